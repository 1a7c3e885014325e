/*
 * request: one request on a connection, from its head to its answer (see
 * conn.h for the states, include/na/server.h for the contract).
 *
 * libmicrohttpd calls na_conn_on_request() several times per request:
 * once when the head is in (request_begin), once per chunk of body
 * (request_body), once when the body has ended (request_dispatch), and
 * again after a parked connection is resumed. A request refused before its
 * body is read either closes the connection (when the body cannot be read
 * at all) or reads and drops the body, then answers, keeping it open.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "conn.h"
#include "na/accesslog.h"
#include "na/budget.h"
#include "na/clock.h"
#include "na/etag.h"
#include "na/framing.h"
#include "na/log.h"
#include "na/metrics.h"
#include "na/quota.h"
#include "na/trace.h"

static const char json_type[] = "application/json; charset=utf-8";

void na_conn_move(struct conn *c, unsigned from, enum conn_state to)
{
    /* An assertion that holds in release builds too: a request in the wrong state is lost. */
    if (!(CONN_IN(conn_state(c)) & from)) {
        na_logf(NA_LOG_ERROR, "connection state out of order", NA_LF_INT("state", conn_state(c)),
                NA_LF_INT("to", to));
        abort();
    }
    atomic_store_explicit(&c->state, (int)to, memory_order_release);
}

static void set_deadline(struct conn *c, uint64_t ns)
{
    atomic_store_explicit(&c->deadline_ns, ns, memory_order_relaxed);
}

/* ---- responses ---------------------------------------------------------- */

static ssize_t no_content(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    (void)pos;
    (void)buf;
    (void)max;
    return MHD_CONTENT_READER_END_OF_STREAM;
}

/*
 * A payload generated as it is sent (reply->pattern): `cls` is its length.
 * libmicrohttpd holds one block of it, NA_RESPONSE_SMALL_BYTES, with the
 * response: the small answer every connection's share of the plan holds.
 */
static ssize_t pattern_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    uint64_t len = (uint64_t)(uintptr_t)cls;

    if (pos >= len)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (max > len - pos)
        max = (size_t)(len - pos);
    return (ssize_t)na_reply_pattern(pos, buf, max);
}

/* Adds X-Echo-<name> for each request header the reply echoes. */
static void add_echoed(struct MHD_Response *resp, const struct na_reply *r)
{
    for (unsigned i = 0; i < r->echo_count; i++) {
        char name[8 + 64 + 1];

        snprintf(name, sizeof(name), "X-Echo-%.*s", (int)r->echo[i].name_len, r->echo[i].name);
        MHD_add_response_header(resp, name, r->echo[i].value);
    }
}

/* A body counted in the response pool until libmicrohttpd lets go of it. */
struct counted {
    struct na_quota *pool;
    size_t bytes;
    void (*release)(void *cls);
    void *cls;
};

static void counted_free(void *cls)
{
    struct counted *k = cls;

    if (k->release)
        k->release(k->cls);
    na_quota_give(k->pool, k->bytes);
    free(k);
}

/*
 * Takes a large body this response owns out of the response pool, so that
 * what slow readers hold stays within the plan. Returns false (the body
 * released, `r` now a 503) when the pool has no room.
 */
static bool count_body(struct conn *c, struct na_reply *r)
{
    struct na_quota *pool = &c->srv->app->responses;
    struct counted *k;

    if (!r->release || r->shared || r->len < NA_RESPONSE_SMALL_BYTES)
        return true;
    k = malloc(sizeof(*k));
    if (!k || !na_quota_take(pool, r->len)) {
        free(k);
        na_metrics_count(c->srv->app->metrics, NA_EV_SHED_RESPONSES);
        na_reply_error(r, 503, "too many answers in flight, retry later");
        r->retry_after_s = 1;
        return false;
    }
    *k = (struct counted){
        .pool = pool, .bytes = r->len, .release = r->release, .cls = r->release_cls};
    r->release = counted_free;
    r->release_cls = k;
    return true;
}

/*
 * Server-Timing (W3C): the time in the service from the request's head to
 * its answer, and the database call's when one answered it, in ms, so a
 * load generator can tell server time from network time.
 */
static void server_timing(const struct conn *c, struct MHD_Response *resp)
{
    unsigned long long app_us = (na_clock_ns() - c->started_ns) / 1000u, db_us;
    char v[80];
    int n = snprintf(v, sizeof(v), "app;dur=%llu.%03llu", app_us / 1000u, app_us % 1000u);

    if (c->used_db && n > 0 && (size_t)n < sizeof(v)) {
        db_us = (unsigned long long)(c->req.call.latency_ms * 1000.0);
        snprintf(v + n, sizeof(v) - (size_t)n, ", db;dur=%llu.%03llu", db_us / 1000u,
                 db_us % 1000u);
    }
    MHD_add_response_header(resp, "Server-Timing", v);
}

/*
 * The request's conditional headers as one list each (RFC 9110 5.3: a list
 * split over field lines is the list on one line): every If-None-Match
 * line joined with ", " (so a `*` beside a tag is the fault it is on one
 * line), and no-cache on any Cache-Control line.
 */
struct conditional {
    char list[NA_HEAD_MAX + 2];
    size_t len;
    bool any, no_cache;
};

static enum MHD_Result conditional_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                         const char *value)
{
    struct conditional *cd = cls;

    (void)kind;
    if (!strcasecmp(key, MHD_HTTP_HEADER_CACHE_CONTROL) && na_etag_no_cache(value)) {
        cd->no_cache = true;
    } else if (!strcasecmp(key, MHD_HTTP_HEADER_IF_NONE_MATCH)) {
        /* The head is at most NA_HEAD_MAX: the joined lines fit. */
        int n = snprintf(cd->list + cd->len, sizeof(cd->list) - cd->len, "%s%s",
                         cd->any ? ", " : "", value);

        if (n > 0)
            cd->len =
                cd->len + (size_t)n < sizeof(cd->list) ? cd->len + (size_t)n : sizeof(cd->list) - 1;
        cd->any = true;
    }
    return MHD_YES;
}

/*
 * Tags a 200 answer to GET or HEAD (into `etag`), and makes it a 304 when
 * the request's If-None-Match matches.
 */
static bool tag_answer(struct conn *c, struct na_reply *r, char etag[NA_ETAG_MAX])
{
    struct conditional cd;

    if (r->status != 200 || r->pattern || !(c->req.method & (NA_METHOD_GET | NA_METHOD_HEAD)))
        return false;
    na_etag_of(r->body, r->len, etag);
    cd.len = 0;
    cd.list[0] = '\0';
    cd.any = cd.no_cache = false;
    MHD_get_connection_values(c->mhd, MHD_HEADER_KIND, conditional_field, &cd);
    if (cd.any && !cd.no_cache && na_etag_matches(cd.list, etag))
        r->status = 304; /* the body stays: libmicrohttpd sends its length, not it */
    return true;
}

/*
 * Turns the connection's reply into a response and queues it. The body is
 * handed to libmicrohttpd with its release callback; a body in the reply's
 * own storage needs none, as the connection context outlives the response.
 */
static enum MHD_Result respond(struct conn *c)
{
    struct na_reply *r = &c->reply;
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char num[16], etag[NA_ETAG_MAX];
    bool tagged;

    count_body(c, r);
    tagged = tag_answer(c, r, etag);
    if (r->status == 304 && !r->len) {
        /*
         * A 304 may carry Content-Length only as the length of the 200 it
         * stands for (RFC 9110 8.6): libmicrohttpd sends the length of the
         * body it is given, and sends no body, so a 304 that stands for a
         * representation is given that representation. One that stands for
         * none (/api/status/304) gets no framing at all, which in
         * libmicrohttpd 0.9.75 means closing the connection after it.
         */
        na_reply_release(r);
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64, no_content, NULL, NULL);
        if (resp)
            MHD_set_response_options(resp, MHD_RF_HTTP_1_0_COMPATIBLE_STRICT, MHD_RO_END);
    } else if (r->pattern) {
        resp = MHD_create_response_from_callback(r->len, NA_RESPONSE_SMALL_BYTES, pattern_reader,
                                                 (void *)(uintptr_t)r->len, NULL);
    } else {
        resp = MHD_create_response_from_buffer_with_free_callback_cls(r->len, (void *)r->body,
                                                                      r->release, r->release_cls);
    }
    if (!resp) {
        na_reply_release(r);
        return MHD_NO; /* out of memory: libmicrohttpd closes the connection */
    }
    r->release = NULL; /* libmicrohttpd's now */
    /* A 304 carries the tag, not the representation's metadata (RFC 9110 15.4.5). */
    if (r->status != 204 && r->status != 304)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                r->content_type ? r->content_type : json_type);
    if (tagged)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(resp, "X-Request-Id", c->request_id);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (r->allow[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->location[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
    if (r->challenge)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (r->replayed)
        MHD_add_response_header(resp, "Idempotent-Replayed", "true");
    if (r->vary_accept)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept");
    add_echoed(resp, r);
    if (r->retry_after_s) {
        snprintf(num, sizeof(num), "%u", r->retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, num);
    }
    server_timing(c, resp);
    /* Draining: one more answer per connection, then the client reconnects elsewhere. */
    if (atomic_load_explicit(&c->srv->app->draining, memory_order_relaxed))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    ret = MHD_queue_response(c->mhd, r->status, resp);
    MHD_destroy_response(resp);
    c->status = r->status;
    c->bytes = r->len;
    na_conn_move(c, CONN_IN(CONN_READING) | CONN_IN(CONN_DROPPING) | CONN_IN(CONN_READY),
                 CONN_ANSWERED);
    /*
     * The answer must be sent by SEND_TIMEOUT_S: a reader that takes a byte
     * at a time keeps libmicrohttpd's idle timeout from firing, and would
     * hold the answer (and its share of the response pool) for hours.
     */
    set_deadline(c, na_clock_ns() + (uint64_t)c->srv->cfg->send_timeout_s * 1000000000u);
    return ret;
}

static enum MHD_Result respond_error(struct conn *c, unsigned status, const char *message,
                                     unsigned retry_after_s)
{
    na_reply_error(&c->reply, status, message);
    c->reply.retry_after_s = retry_after_s;
    return respond(c);
}

static void too_big(struct conn *c)
{
    char msg[96];

    snprintf(msg, sizeof(msg), "request body over %llu bytes",
             (unsigned long long)c->srv->cfg->max_body_bytes);
    na_reply_error(&c->reply, 413, msg);
}

/*
 * Answers with an error written straight to the socket, then closes. For a
 * head too large to answer the usual way: libmicrohttpd builds response
 * headers in the connection's pool, and a head that filled the pool leaves
 * no room for them (it would close without a word). The socket's buffer is
 * empty here (the previous answer, if any, has gone), so the few hundred
 * bytes go at once.
 */
static enum MHD_Result answer_raw(struct conn *c, unsigned status, const char *message)
{
    char out[NA_ENCODE_SMALL_MAX + 512];
    size_t n = na_reply_raw(status, message, NULL, 0, c->request_id, 0, false, out, sizeof(out));

    if (c->fd >= 0 && n)
        (void)!send(c->fd, out, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    c->status = status;
    c->bytes = n;
    c->answered_raw = true;
    na_conn_move(c, CONN_IN(CONN_READING), CONN_ANSWERED);
    set_deadline(c, 0);
    return MHD_NO; /* libmicrohttpd closes the connection */
}

/* ---- request bodies ----------------------------------------------------- */

/* The most of an unwanted body read and dropped before answering: twice the limit, and a bit. */
static uint64_t drop_bound(const struct na_config *cfg)
{
    return 2 * cfg->max_body_bytes + 65536;
}

static bool expects_continue(struct MHD_Connection *mc)
{
    const char *e = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);

    return e && !strcasecmp(e, "100-continue");
}

/*
 * Bodies kept for the handlers draw on one pool (the budget's body_pool):
 * what all connections buffer at once stays bounded whatever each sends.
 * A body takes from it as its bytes arrive (its buffer doubling, up to its
 * declared length), never for what it has only declared: uploads that
 * declare megabytes and trickle cannot hold the pool against every other
 * POST until REQUEST_TIMEOUT_S ends them.
 */
static bool pool_reserve(struct conn *c, uint64_t n)
{
    if (!na_quota_take(&c->srv->app->bodies, n))
        return false;
    c->reserved += n;
    return true;
}

static void body_release(struct conn *c)
{
    free(c->body);
    c->body = NULL;
    c->body_cap = 0;
    if (c->reserved)
        na_quota_give(&c->srv->app->bodies, c->reserved);
    c->reserved = 0;
}

/*
 * Appends a chunk to the kept body, growing it within the pool. Returns
 * false when the pool has no room left (the caller answers 503).
 */
static bool body_append(struct conn *c, const char *data, size_t n)
{
    if (c->body_bytes + n > c->body_cap) {
        size_t cap = c->body_cap ? c->body_cap : 1024;
        char *grown;

        while (cap < c->body_bytes + n)
            cap *= 2;
        if (c->declared && cap > c->declared)
            cap = c->declared; /* at least body_bytes + n: more would be over the length */
        if (cap > c->srv->cfg->max_body_bytes)
            cap = c->srv->cfg->max_body_bytes;
        if (cap > c->reserved && !pool_reserve(c, cap - c->reserved))
            return false;
        grown = realloc(c->body, cap);
        if (!grown)
            return false;
        c->body = grown;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_bytes, data, n);
    return true;
}

/* ---- request lifecycle -------------------------------------------------- */

static const char *lookup(const struct na_request *req, enum na_lookup kind, const char *name)
{
    const struct conn *c = req->server_cls;

    return MHD_lookup_connection_value(
        c->mhd, kind == NA_LOOKUP_QUERY ? MHD_GET_ARGUMENT_KIND : MHD_HEADER_KIND, name);
}

struct all_values {
    const char *name;
    const char **values;
    size_t max, n;
};

static enum MHD_Result collect_values(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    struct all_values *a = cls;

    (void)kind;
    if (!strcasecmp(key, a->name)) {
        if (a->n < a->max)
            a->values[a->n] = value;
        a->n++;
    }
    return MHD_YES;
}

static size_t lookup_all(const struct na_request *req, const char *name, const char **values,
                         size_t max)
{
    const struct conn *c = req->server_cls;
    struct all_values a = {.name = name, .values = values, .max = max};

    MHD_get_connection_values(c->mhd, MHD_HEADER_KIND, collect_values, &a);
    return a.n;
}

/*
 * The deferred reply is ready; called once, inline or from the timer's, a
 * worker's or a store's thread.
 */
static void resume(struct na_request *req)
{
    struct conn *c = req->server_cls;
    bool parked = conn_state(c) == CONN_PARKED;

    na_conn_move(c, CONN_IN(CONN_PARKED) | CONN_IN(CONN_INLINE), CONN_READY);
    if (parked)
        MHD_resume_connection(c->mhd);
}

bool na_conn_gone(void *cls)
{
    const struct conn *c = cls;

    return atomic_load(&c->gone);
}

void na_conn_on_timer(void *cls, bool cancelled)
{
    struct conn *c = cls;

    if (cancelled) {
        /* Early, its client gone (the delay's request not run), or the server stopping. */
        na_reply_release(&c->reply);
        na_reply_error(&c->reply, 503,
                       atomic_load(&c->gone) ? "the client went away before the answer: not done"
                                             : "server shutting down");
        c->reply.retry_after_s = 1; /* nothing was done: a delay, or a request not yet run */
        if (c->fault_phase == FAULT_WAITING)
            c->fault_phase = FAULT_CUT;
    } else if (c->fault_phase == FAULT_WAITING) {
        /*
         * An injected delay is over and the request has not run: back to
         * READING, where libmicrohttpd's next call dispatches it.
         */
        c->fault_phase = FAULT_WAITED;
        na_conn_move(c, CONN_IN(CONN_PARKED), CONN_READING);
        MHD_resume_connection(c->mhd);
        return;
    }
    resume(&c->req);
}

void na_conn_on_work(void *cls, bool cancelled)
{
    struct conn *c = cls;

    if (atomic_load(&c->gone)) {
        na_reply_error(&c->reply, 503, "the client went away before the work began: not done");
    } else if (cancelled) {
        na_reply_error(&c->reply, 503, "server shutting down: not done");
        c->reply.retry_after_s = 1;
    } else {
        c->req.work(&c->req, na_worker_stop_flag(c->srv->worker), &c->gone);
    }
    resume(&c->req);
}

/*
 * Suspends the connection (not the thread) until `on` resumes it. Suspend
 * first: the timer, the store or the worker may finish at once, on its
 * thread, and from here it owns the request.
 */
static void park(struct conn *c, enum conn_park on)
{
    set_deadline(c, 0);
    atomic_store_explicit(&c->parked_on, on, memory_order_relaxed);
    na_conn_move(c, CONN_IN(CONN_READING), CONN_PARKED);
    MHD_suspend_connection(c->mhd);
}

/* Parks the connection for `ms`; the timer resumes it. */
static enum MHD_Result park_for_timer(struct conn *c, unsigned ms)
{
    park(c, PARK_TIMER);
    /* The timer refuses only once shutting down: answer through the same resume path. */
    if (na_timer_add(c->srv->timer, ms, c))
        na_conn_on_timer(c, true);
    return MHD_YES;
}

/* The head as framing.h reads it. */
struct head {
    struct na_framing f;
    const char *lengths[8];
};

static enum MHD_Result collect_fields(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    struct head *h = cls;

    (void)kind;
    h->f.fields++;
    if (!strcasecmp(key, "Idempotency-Key"))
        h->f.idempotency_keys++;
    if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        h->f.transfer_encodings++;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH))
        return MHD_YES;
    if (h->f.nlengths == 8)
        h->lengths[7] = ""; /* more than 8: as good as disagreeing */
    else
        h->lengths[h->f.nlengths++] = value;
    return MHD_YES;
}

static void read_head(struct MHD_Connection *mc, struct head *h)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);

    memset(h, 0, sizeof(*h));
    h->f.head_bytes = ci ? ci->header_size : 0;
    h->f.transfer_encoding =
        MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    h->f.lengths = h->lengths;
    MHD_get_connection_values(mc, MHD_HEADER_KIND, collect_fields, h);
}

/* Reads and drops the body, then answers what `reply` holds. */
static enum MHD_Result drop_then_answer(struct conn *c)
{
    na_conn_move(c, CONN_IN(CONN_READING), CONN_DROPPING);
    return MHD_YES;
}

/*
 * First call for a request: the head is in. Sets the request up, and
 * answers at once when it must be refused before its body is read (framing
 * it cannot read, no room to buffer it, memory near its limit):
 * libmicrohttpd then closes the connection rather than read a body nobody
 * wants. Anything else refused is answered once the body has been read and
 * dropped, which keeps the connection open.
 */
static enum MHD_Result request_begin(struct conn *c, const char *url, const char *method)
{
    struct na_server *s = c->srv;
    const struct na_config *cfg = s->cfg;
    struct na_request *req = &c->req;
    struct head head;
    unsigned refused;
    bool has_length;
    uint64_t length;
    char msg[160];

    assert(conn_state(c) == CONN_READING); /* moved from IDLE by na_conn_on_request() */
    set_deadline(c, atomic_load_explicit(&c->idle_since_ns, memory_order_relaxed) +
                        (uint64_t)cfg->request_timeout_s * 1000000000u);
    c->started_ns = na_clock_ns();
    atomic_fetch_add_explicit(&s->app->in_flight, 1, memory_order_relaxed);
    c->log_this = na_access_sampled(cfg->access_log_ratio);
    c->answered_raw = false;
    c->used_db = false;
    c->fault_phase = FAULT_NONE;
    atomic_store_explicit(&c->parked_on, PARK_NONE, memory_order_relaxed);
    atomic_store_explicit(&c->gone, false, memory_order_relaxed);
    c->body_bytes = 0;
    c->status = 0;
    c->bytes = 0;
    na_request_init(
        req, s->app, method, url,
        &(struct na_request_hooks){
            .lookup = lookup, .lookup_all = lookup_all, .resume = resume, .server_cls = c},
        &c->reply);
    na_reqid_assign(MHD_lookup_connection_value(c->mhd, MHD_HEADER_KIND, "X-Request-Id"),
                    c->request_id);

    read_head(c->mhd, &head);
    refused = na_framing_check(&head.f, &length, &has_length, msg, sizeof(msg));
    if (refused == 431)
        return answer_raw(c, 431, msg);
    if (refused)
        return respond_error(c, refused, msg, 0); /* unread body: the connection closes */
    if (has_length && length > cfg->max_body_bytes) {
        /*
         * A client that waits for 100 Continue gets the 413 at once and
         * sends none of the body. One that sends the whole body before it
         * reads (Node's fetch and undici, curl with Expect: off) would meet
         * a reset if the connection closed under its unread body, and never
         * see the 413: read the body and drop it, up to a bound, then answer
         * on a connection that stays open.
         */
        too_big(c);
        if (expects_continue(c->mhd) || length > drop_bound(cfg))
            return respond(c);
        return drop_then_answer(c);
    }
    /*
     * Memory near the limit: shed everything but the health checks, the
     * load balancer's and the deep one that says why (both answers are a
     * few hundred bytes).
     */
    if (atomic_load_explicit(&s->app->shedding, memory_order_relaxed) &&
        !na_handle_never_shed(req)) {
        na_metrics_count(s->app->metrics, NA_EV_SHED_MEMORY);
        return respond_error(c, 503, "memory near its limit, retry later", 1);
    }
    if (na_handle_precheck(req))
        return drop_then_answer(c);
    req->body = NULL;
    /* Refused before any of it is sent (or 100 Continue asked for) when it could not fit now. */
    c->declared = has_length ? length : 0;
    if (na_handle_takes_body(req) && has_length && length &&
        length > c->srv->cfg->budget.body_pool_bytes - na_quota_used(&s->app->bodies)) {
        na_metrics_count(s->app->metrics, NA_EV_SHED_BODIES);
        return respond_error(c, 503, "too many request bodies in flight, retry later", 1);
    }
    return MHD_YES;
}

/*
 * A chunk of body. Routes that take one keep it; for the rest it is
 * counted and dropped. A body without a declared length (chunked) can only
 * be refused once it has ended, as libmicrohttpd 0.9.75 cannot queue an
 * answer mid-upload; one that runs on past the drop bound gets the
 * connection closed instead.
 */
static enum MHD_Result request_body(struct conn *c, const char *data, size_t *upload_size)
{
    size_t n = *upload_size;

    *upload_size = 0;
    if (c->body_bytes + n > drop_bound(c->srv->cfg))
        return MHD_NO;
    if (c->body_bytes + n > c->srv->cfg->max_body_bytes && c->reply.status != 413) {
        /* Too large beats any other refusal, as when the length is declared. */
        too_big(c);
        body_release(c);
        if (conn_state(c) == CONN_READING)
            drop_then_answer(c);
    } else if (conn_state(c) == CONN_READING && na_handle_takes_body(&c->req)) {
        if (!body_append(c, data, n)) {
            /* No room to buffer it: answer 503 once the rest is dropped. */
            body_release(c);
            na_metrics_count(c->srv->app->metrics, NA_EV_SHED_BODIES);
            na_reply_error(&c->reply, 503, "too many request bodies in flight, retry later");
            c->reply.retry_after_s = 1;
            drop_then_answer(c);
        }
    }
    c->body_bytes += n;
    return MHD_YES;
}

static enum MHD_Result request_dispatch(struct conn *c)
{
    struct na_server *s = c->srv;
    struct na_request *req = &c->req;

    if (conn_state(c) == CONN_DROPPING)
        return respond(c);
    if (req->fault.delay_ms && c->fault_phase == FAULT_NONE) {
        /* An injected delay: parked before the request runs; the timer brings it back here. */
        c->fault_phase = FAULT_WAITING;
        na_metrics_count(s->app->metrics, NA_EV_FAULT_DELAY);
        return park_for_timer(c, req->fault.delay_ms);
    }
    if (na_handle_takes_body(req)) {
        req->body = c->body;
        req->body_len = c->body_bytes;
    }
    na_handle(req);
    switch (c->reply.defer) {
    case NA_DEFER_NONE:
        return respond(c);
    case NA_DEFER_TIMER:
        return park_for_timer(c, c->reply.delay_ms);
    case NA_DEFER_WORK:
        park(c, PARK_WORKER);
        /* Refused when the queue is full, or once shutting down: answered the same way. */
        if (!s->worker || na_worker_submit(s->worker, c)) {
            bool stopping = !s->worker || atomic_load(na_worker_stop_flag(s->worker));

            if (!stopping)
                na_metrics_count(s->app->metrics, NA_EV_SHED_CPU);
            na_reply_error(&c->reply, 503,
                           stopping ? "server shutting down"
                                    : "too much CPU work queued, retry later");
            c->reply.retry_after_s = 1;
            resume(req);
        }
        return MHD_YES;
    case NA_DEFER_STORE:
        set_deadline(c, 0);
        if (!s->app->store->blocking) {
            na_conn_move(c, CONN_IN(CONN_READING), CONN_INLINE);
            na_store_submit(s->app->store, &req->call);
            return respond(c); /* answered inline: READY */
        }
        c->used_db = true;
        /* From here the store's thread resumes it: nothing here may read what it writes. */
        park(c, PARK_STORE);
        na_store_submit(s->app->store, &req->call);
        return MHD_YES;
    }
    return MHD_NO;
}

enum MHD_Result na_conn_on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_size, void **req_cls)
{
    struct conn *c = *req_cls;

    (void)cls;
    (void)version;
    if (!c) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

        c = ci ? ci->socket_context : NULL;
        if (!c)
            return MHD_NO; /* the context could not be allocated at accept */
        {
            int idle = CONN_IDLE;

            /*
             * The listener may have just closed it (CUT) to make room or past
             * its deadline, and answered for it: then nothing of this request
             * runs. One compare-and-swap decides, on both sides.
             */
            if (!atomic_compare_exchange_strong_explicit(
                    &c->state, &idle, CONN_READING, memory_order_acq_rel, memory_order_acquire)) {
                assert(idle == CONN_CUT);
                return MHD_NO;
            }
        }
        *req_cls = c;
        return request_begin(c, url, method);
    }
    switch (conn_state(c)) {
    case CONN_READING:
    case CONN_DROPPING:
        if (*upload_size)
            return request_body(c, upload_data, upload_size);
        return request_dispatch(c);
    case CONN_READY:
        return respond(c);
    case CONN_IDLE:
    case CONN_CUT:
    case CONN_PARKED:
    case CONN_INLINE:
    case CONN_ANSWERED:
        break;
    }
    /* Data after the answer, or a spurious call while parked: ignore it. */
    *upload_size = 0;
    return MHD_YES;
}

void na_conn_on_completed(void *cls, struct MHD_Connection *mc, void **req_cls,
                          enum MHD_RequestTerminationCode toe)
{
    struct na_server *s = cls;
    struct conn *c = *req_cls;
    struct na_access_entry e;
    char trace_id[NA_TRACE_ID_LEN + 1];
    uint64_t now;

    if (!c)
        return;
    *req_cls = NULL;
    e = (struct na_access_entry){
        .status = c->status,
        .bytes = c->bytes,
        .aborted = toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && !c->answered_raw,
    };
    now = na_clock_ns();
    /* Counted once answered, as prom-client's middleware counts on 'finish'. */
    /*
     * A request the sweep cut off (408 at REQUEST_TIMEOUT_S, a reset at
     * SEND_TIMEOUT_S) is counted in the closed connections, not here.
     */
    if (!atomic_load_explicit(&c->cut, memory_order_acquire))
        na_metrics_request(s->app->metrics, c->req.match.route, c->req.method,
                           e.aborted ? 0 : c->status, now - c->started_ns);
    if (c->log_this || na_access_always(&e)) {
        e.method = c->req.method_name;
        e.path = c->req.path;
        e.duration_ms = (double)(now - c->started_ns) / 1e6;
        e.request_id = c->request_id;
        /* Header values live until the connection's pool is reset, after this call. */
        e.amzn_trace = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "X-Amzn-Trace-Id");
        if (na_trace_id(MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "traceparent"),
                        e.amzn_trace, trace_id))
            e.trace_id = trace_id;
        e.forwarded = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "X-Forwarded-For");
        e.user_agent = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "User-Agent");
        e.peer = c->peer;
        /* Faults that took place: one decided for a request refused unread (413) did not. */
        e.fault_status = c->req.fault_answered ? c->req.fault.status : 0;
        e.fault_delay_ms = c->fault_phase != FAULT_NONE ? c->req.fault.delay_ms : 0;
        e.fault_delay_cut = c->fault_phase == FAULT_CUT;
        na_access_log(&e);
    }
    na_reply_release(&c->reply);
    body_release(c);
    /* Also from READING or DROPPING: the client went away mid-request. */
    atomic_store_explicit(&c->idle_since_ns, now, memory_order_relaxed);
    set_deadline(c, now + ((uint64_t)s->cfg->keepalive_timeout_s + s->cfg->headers_timeout_s) *
                              1000000000u);
    na_conn_move(c,
                 CONN_IN(CONN_READING) | CONN_IN(CONN_DROPPING) | CONN_IN(CONN_READY) |
                     CONN_IN(CONN_ANSWERED),
                 CONN_IDLE);
    atomic_fetch_add_explicit(&c->served, 1, memory_order_relaxed);
    if (atomic_load_explicit(&s->app->draining, memory_order_relaxed))
        atomic_fetch_add_explicit(&s->drained, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&s->app->in_flight, 1, memory_order_release);
}
