/*
 * server: libmicrohttpd daemon, request lifecycle and drain (see
 * include/na/server.h).
 */
#include "na/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "na/accesslog.h"
#include "na/clock.h"
#include "na/framing.h"
#include "na/handlers.h"
#include "na/log.h"
#include "na/reqid.h"
#include "na/timer.h"

struct na_server {
    struct na_app *app;
    const struct na_config *cfg;
    struct MHD_Daemon *daemon;
    struct na_timer *timer;
    int listen_fd; /* ours again after the drain quiesced the daemon */
    bool quiesced;
    unsigned port;
    atomic_uint_fast64_t drained;
};

/* Where a request is between libmicrohttpd's calls of on_request(). */
enum phase {
    PHASE_IDLE = 0, /* no request on the connection */
    PHASE_READING,  /* headers in, body (if any) arriving */
    PHASE_DEFERRED, /* waiting for a timer or a store call */
    PHASE_RESUMED,  /* the deferred reply is ready: send it */
    PHASE_ANSWERED, /* response queued */
};

/* Per-connection context: allocated at accept, reused by each request. */
struct conn {
    struct na_server *srv;
    struct MHD_Connection *mhd;
    int fd; /* the socket, libmicrohttpd's; -1 if unknown */
    char peer[INET6_ADDRSTRLEN];

    /* The current request; reset when it completes. */
    enum phase phase;
    bool log_this;
    bool answered_early; /* the precheck answered: the body is dropped */
    bool takes_body;
    bool too_big;
    bool suspended;
    bool cut;          /* deferred reply cut off by the shutdown */
    bool answered_raw; /* answered by answer_raw(): the close is ours */
    uint64_t started_ns;
    uint64_t body_bytes; /* received, kept or not */
    char *body;          /* kept body, for routes that take one */
    size_t body_cap;
    uint64_t reserved; /* of the body pool */
    unsigned status;   /* as queued */
    size_t bytes;
    struct na_request req;
    char request_id[NA_REQID_MAX + 1];
    struct na_reply reply;
};

static const char json_type[] = "application/json; charset=utf-8";

/* How long the stop waits for cut-off requests to send their 503. */
#define STOP_FLUSH_MS 1000

/* ---- responses ---------------------------------------------------------- */

/*
 * Turns the connection's reply into a response and queues it. The body is
 * handed to libmicrohttpd with its release callback; a body in the reply's
 * own storage needs none, as the connection context outlives the response.
 */
static ssize_t no_content(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    (void)pos;
    (void)buf;
    (void)max;
    return MHD_CONTENT_READER_END_OF_STREAM;
}

static enum MHD_Result respond(struct conn *c)
{
    struct na_reply *r = &c->reply;
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char num[16];

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
    } else {
        resp = MHD_create_response_from_buffer_with_free_callback_cls(r->len, (void *)r->body,
                                                                      r->release, r->release_cls);
    }
    if (!resp) {
        na_reply_release(r);
        return MHD_NO; /* out of memory: libmicrohttpd closes the connection */
    }
    r->release = NULL; /* libmicrohttpd's now */
    if (r->len || (r->status != 204 && r->status != 304))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                r->content_type ? r->content_type : json_type);
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
    if (r->retry_after_s) {
        snprintf(num, sizeof(num), "%u", r->retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, num);
    }
    /* Draining: one more answer per connection, then the client reconnects elsewhere. */
    if (atomic_load_explicit(&c->srv->app->draining, memory_order_relaxed))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    ret = MHD_queue_response(c->mhd, r->status, resp);
    MHD_destroy_response(resp);
    c->status = r->status;
    c->bytes = r->len;
    c->phase = PHASE_ANSWERED;
    return ret;
}

static enum MHD_Result respond_error(struct conn *c, unsigned status, const char *message,
                                     unsigned retry_after_s)
{
    na_reply_error(&c->reply, status, message);
    c->reply.retry_after_s = retry_after_s;
    return respond(c);
}

static enum MHD_Result respond_too_big(struct conn *c)
{
    char msg[96];

    snprintf(msg, sizeof(msg), "request body over %llu bytes",
             (unsigned long long)c->srv->cfg->max_body_bytes);
    return respond_error(c, 413, msg, 0);
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
    char body[NA_ENCODE_SMALL_MAX], out[NA_ENCODE_SMALL_MAX + 512];
    struct na_buf b;
    int n;

    na_buf_init(&b, body, sizeof(body));
    na_encode_error(&b, status, message);
    n = snprintf(out, sizeof(out),
                 "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                 "X-Request-Id: %s\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n"
                 "%s",
                 status, MHD_get_reason_phrase_for(status), json_type, b.len, c->request_id, body);
    if (c->fd >= 0 && n > 0 && (size_t)n < sizeof(out))
        (void)!send(c->fd, out, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    c->status = status;
    c->bytes = b.len;
    c->answered_raw = true;
    c->phase = PHASE_ANSWERED;
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
 */
static bool pool_reserve(struct conn *c, uint64_t n)
{
    atomic_uint_fast64_t *used = &c->srv->app->body_bytes;
    uint64_t cur = atomic_load_explicit(used, memory_order_relaxed);

    do {
        if (cur + n > c->srv->cfg->budget.body_pool_bytes)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(used, &cur, cur + n, memory_order_relaxed,
                                                    memory_order_relaxed));
    c->reserved += n;
    return true;
}

static void body_release(struct conn *c)
{
    free(c->body);
    c->body = NULL;
    c->body_cap = 0;
    if (c->reserved)
        atomic_fetch_sub_explicit(&c->srv->app->body_bytes, c->reserved, memory_order_relaxed);
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

/* The deferred reply is ready; called from any thread, once. */
static void resume(struct na_request *req)
{
    struct conn *c = req->server_cls;

    c->phase = PHASE_RESUMED;
    if (c->suspended) {
        c->suspended = false;
        MHD_resume_connection(c->mhd);
    }
}

static void on_timer(void *cls, bool cancelled)
{
    struct conn *c = cls;

    c->cut = cancelled;
    resume(&c->req);
}

/* The head as framing.h reads it. */
struct head {
    struct na_framing f;
    const char *lengths[8];
};

static enum MHD_Result collect_lengths(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    struct head *h = cls;

    (void)kind;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH))
        return MHD_YES;
    if (h->f.nlengths == 8) {
        h->lengths[7] = ""; /* more than 8: as good as disagreeing */
        return MHD_NO;
    }
    h->lengths[h->f.nlengths++] = value;
    return MHD_YES;
}

static void read_head(struct MHD_Connection *mc, struct head *h)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);

    memset(h, 0, sizeof(*h));
    h->f.head_bytes = ci ? ci->header_size : 0;
    h->f.fields = (size_t)MHD_get_connection_values(mc, MHD_HEADER_KIND, NULL, NULL);
    h->f.transfer_encoding =
        MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    h->f.lengths = h->lengths;
    MHD_get_connection_values(mc, MHD_HEADER_KIND, collect_lengths, h);
}

/*
 * First call for a request: headers are in. Sets the request up, and
 * answers at once when it must be refused before its body is read (too
 * large, no room to buffer it, memory near its limit): libmicrohttpd then
 * closes the connection rather than read a body nobody wants. Anything else
 * the precheck refuses is answered once the body has been read and dropped,
 * which keeps the connection alive.
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

    c->started_ns = na_clock_ns();
    atomic_fetch_add_explicit(&s->app->in_flight, 1, memory_order_relaxed);
    c->phase = PHASE_READING;
    c->log_this = na_access_sampled(cfg->access_log_ratio);
    c->too_big = c->cut = c->suspended = c->answered_raw = false;
    c->takes_body = c->answered_early = false;
    c->body_bytes = 0;
    c->status = 0;
    c->bytes = 0;
    na_request_init(req, s->app, method, url,
                    &(struct na_request_hooks){.lookup = lookup, .resume = resume, .server_cls = c},
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
        if (expects_continue(c->mhd) || length > drop_bound(cfg))
            return respond_too_big(c);
        c->too_big = true;
        return MHD_YES;
    }
    /* Memory near the limit: shed everything but the load balancer's check. */
    if (atomic_load_explicit(&s->app->shedding, memory_order_relaxed) &&
        req->match.route != NA_ROUTE_HEALTH)
        return respond_error(c, 503, "memory near its limit, retry later", 1);
    c->answered_early = na_handle_precheck(req);
    c->takes_body = !c->answered_early && na_handle_takes_body(req);
    if (c->takes_body && has_length && length && !pool_reserve(c, length))
        return respond_error(c, 503, "too many request bodies in flight, retry later", 1);
    return MHD_YES;
}

/*
 * A chunk of body. Routes that take one keep it; for the rest it is
 * counted and dropped. A body without a declared length (chunked) can only
 * be refused once it has ended, as libmicrohttpd 0.9.75 cannot queue an
 * answer mid-upload; one that runs on past twice the limit gets the
 * connection closed instead.
 */
static enum MHD_Result request_body(struct conn *c, const char *data, size_t *upload_size)
{
    uint64_t max = c->srv->cfg->max_body_bytes;
    size_t n = *upload_size;

    *upload_size = 0;
    if (c->body_bytes + n > max)
        c->too_big = true;
    if (c->body_bytes + n > drop_bound(c->srv->cfg))
        return MHD_NO;
    if (c->takes_body && !c->too_big && !body_append(c, data, n)) {
        /* No room to buffer it: answer 503 once the rest is dropped. */
        c->takes_body = false;
        c->answered_early = true;
        body_release(c);
        na_reply_error(&c->reply, 503, "too many request bodies in flight, retry later");
        c->reply.retry_after_s = 1;
    }
    c->body_bytes += n;
    return MHD_YES;
}

static enum MHD_Result request_dispatch(struct conn *c)
{
    struct na_server *s = c->srv;
    struct na_request *req = &c->req;

    if (c->too_big)
        return respond_too_big(c);
    if (c->answered_early)
        return respond(c);
    req->body = c->body;
    req->body_len = c->body_bytes;
    na_handle(req);
    switch (c->reply.defer) {
    case NA_DEFER_NONE:
        return respond(c);
    case NA_DEFER_TIMER:
        /* Park the connection, not the thread; the timer resumes it. */
        c->phase = PHASE_DEFERRED;
        c->suspended = true;
        MHD_suspend_connection(c->mhd);
        /* The timer refuses only once shutting down: answer through the same resume path. */
        if (na_timer_add(s->timer, c->reply.delay_ms, c))
            on_timer(c, true);
        return MHD_YES;
    case NA_DEFER_STORE:
        c->phase = PHASE_DEFERRED;
        /* Suspend first: a blocking store may finish on its thread at once. */
        if (s->app->store->blocking) {
            c->suspended = true;
            MHD_suspend_connection(c->mhd);
        }
        na_store_submit(s->app->store, &req->call);
        /*
         * A blocking store owns the request now: its thread resumes it, and
         * nothing here may read what that thread writes. A non-blocking one
         * has answered inline.
         */
        if (s->app->store->blocking)
            return MHD_YES;
        return c->phase == PHASE_RESUMED ? respond(c) : MHD_YES;
    }
    return MHD_NO;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
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
        *req_cls = c;
        return request_begin(c, url, method);
    }
    switch (c->phase) {
    case PHASE_READING:
        if (*upload_size)
            return request_body(c, upload_data, upload_size);
        return request_dispatch(c);
    case PHASE_RESUMED:
        if (c->cut)
            return respond_error(c, 503, "server shutting down", 0);
        return respond(c);
    case PHASE_DEFERRED:
    case PHASE_ANSWERED:
    case PHASE_IDLE:
        break;
    }
    /* Data after the answer, or a spurious call while parked: ignore it. */
    *upload_size = 0;
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct na_server *s = cls;
    struct conn *c = *req_cls;
    struct na_access_entry e;

    if (!c)
        return;
    *req_cls = NULL;
    e = (struct na_access_entry){
        .status = c->status,
        .bytes = c->bytes,
        .aborted = toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && !c->answered_raw,
    };
    if (c->log_this || na_access_always(&e)) {
        e.method = c->req.method_name;
        e.path = c->req.path;
        e.duration_ms = na_clock_ms_since(c->started_ns);
        e.request_id = c->request_id;
        /* Header values live until the connection's pool is reset, after this call. */
        e.trace_id = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "X-Amzn-Trace-Id");
        e.forwarded = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "X-Forwarded-For");
        e.user_agent = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "User-Agent");
        e.peer = c->peer;
        na_access_log(&e);
    }
    na_reply_release(&c->reply);
    body_release(c);
    c->phase = PHASE_IDLE;
    if (atomic_load_explicit(&s->app->draining, memory_order_relaxed))
        atomic_fetch_add_explicit(&s->drained, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&s->app->in_flight, 1, memory_order_release);
}

/* The peer's address as text; IPv4 clients of a dual-stack socket read as IPv4. */
static void format_peer(const struct sockaddr *sa, char *out, size_t cap)
{
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

        if (IN6_IS_ADDR_V4MAPPED(a))
            inet_ntop(AF_INET, &a->s6_addr[12], out, (socklen_t)cap);
        else
            inet_ntop(AF_INET6, a, out, (socklen_t)cap);
    }
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct na_server *s = cls;
    struct conn *c;

    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        free(*socket_context);
        *socket_context = NULL;
        atomic_fetch_sub_explicit(&s->app->connections, 1, memory_order_release);
        return;
    }
    atomic_fetch_add_explicit(&s->app->connections, 1, memory_order_relaxed);
    c = calloc(1, sizeof(*c));
    if (c) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr *sa = ci ? ci->client_addr : NULL;

        const union MHD_ConnectionInfo *fi =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);

        c->srv = s;
        c->mhd = mc;
        c->fd = fi ? fi->connect_fd : -1;
        strcpy(c->peer, "unknown");
        if (sa)
            format_peer(sa, c->peer, sizeof(c->peer));
    }
    *socket_context = c;
}

static size_t on_unescape(void *cls, struct MHD_Connection *mc, char *s)
{
    (void)cls;
    (void)mc;
    return na_router_unescape(s);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    na_logf(NA_LOG_WARN, "libmicrohttpd", NA_LF_STR("detail", msg));
}

/* ---- listening socket --------------------------------------------------- */

static int open_listener(const struct na_config *cfg, int *family, unsigned *port, char *err,
                         size_t errlen)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
    };
    struct addrinfo *res = NULL, *ai;
    char portstr[8];
    int fd = -1, rc, saved = 0;

    snprintf(portstr, sizeof(portstr), "%u", cfg->port);
    rc = getaddrinfo(cfg->host, portstr, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "HOST \"%.200s\" does not resolve: %s", cfg->host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        int one = 1, zero = 0;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);

        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        /* "::" serves IPv4 too, as Node's listen() does. */
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, SOMAXCONN) ||
            getsockname(fd, (struct sockaddr *)&ss, &sl)) {
            saved = errno;
            close(fd);
            fd = -1;
            continue;
        }
        *family = ai->ai_family;
        *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
        break;
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, errlen, "cannot listen on HOST \"%.200s\" PORT %u: %s", cfg->host, cfg->port,
                 strerror(saved));
    return fd;
}

/* ---- lifecycle ---------------------------------------------------------- */

static struct MHD_OptionItem *daemon_options(struct na_server *s, struct MHD_OptionItem *ops)
{
    const struct na_config *cfg = s->cfg;
    size_t n = 0;

#define OPT(o, v, p) (ops[n++] = (struct MHD_OptionItem){(o), (intptr_t)(v), (p)})
    /* The logger first, or libmicrohttpd logs the options before it its own way. */
    OPT(MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, NULL);
    OPT(MHD_OPTION_LISTEN_SOCKET, s->listen_fd, NULL);
    /* A pool of one is refused with a warning: one thread is the plain internal thread. */
    if (cfg->threads > 1)
        OPT(MHD_OPTION_THREAD_POOL_SIZE, cfg->threads, NULL);
    OPT(MHD_OPTION_CONNECTION_LIMIT, cfg->budget.max_connections, NULL);
    OPT(MHD_OPTION_CONNECTION_TIMEOUT, cfg->keepalive_timeout_s, NULL);
    OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, NA_CONN_POOL_BYTES, NULL);
    OPT(MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s);
    OPT(MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s);
    OPT(MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)on_unescape, NULL);
    OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
    return ops;
}

struct na_server *na_server_start(struct na_app *app, char *err, size_t errlen)
{
    const struct na_config *cfg = app->cfg;
    struct na_server *s = calloc(1, sizeof(*s));
    struct MHD_OptionItem ops[12];
    unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    int family = AF_INET;

    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->app = app;
    s->cfg = cfg;
    atomic_init(&s->drained, 0);
    s->listen_fd = open_listener(cfg, &family, &s->port, err, errlen);
    if (s->listen_fd < 0)
        goto fail;
    s->timer = na_timer_new(on_timer);
    if (!s->timer) {
        snprintf(err, errlen, "cannot start the timer thread");
        goto fail;
    }
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY,
                                 daemon_options(s, ops), MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(err, errlen, "libmicrohttpd failed to start (THREADS=%u, MAX_CONNECTIONS=%u)",
                 cfg->threads, cfg->budget.max_connections);
        goto fail;
    }
    return s;
fail:
    na_timer_free(s->timer);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    free(s);
    return NULL;
}

unsigned na_server_port(const struct na_server *s)
{
    return s->port;
}

void na_server_drain(struct na_server *s)
{
    MHD_socket fd;

    if (s->quiesced)
        return;
    atomic_store(&s->app->draining, true);
    fd = MHD_quiesce_daemon(s->daemon);
    s->quiesced = true;
    /*
     * Quiescing only stops accept(): connects would still complete in the
     * kernel backlog and then hang. Shutting the socket down refuses them
     * at once, so a client or load balancer retries elsewhere right away.
     * It is closed at stop, once no worker can still be polling it.
     */
    if (fd != MHD_INVALID_SOCKET)
        shutdown(fd, SHUT_RDWR);
}

uint64_t na_server_connections(const struct na_server *s)
{
    return atomic_load(&s->app->connections);
}

uint64_t na_server_in_flight(const struct na_server *s)
{
    return atomic_load(&s->app->in_flight);
}

uint64_t na_server_drained_requests(const struct na_server *s)
{
    return atomic_load(&s->drained);
}

void na_server_stop(struct na_server *s)
{
    if (!s)
        return;
    /*
     * libmicrohttpd aborts if stopped with connections still suspended:
     * answer every deferred reply first, timers and store calls alike.
     */
    na_timer_flush(s->timer);
    na_store_shutdown(s->app->store);
    /*
     * The deferred requests just cut off are resumed with their 503: give
     * their threads the moment it takes to send it (bounded), as stopping
     * the daemon would close them with no answer at all.
     */
    for (int i = 0; i < STOP_FLUSH_MS && atomic_load(&s->app->in_flight); i++) {
        struct timespec ms = {.tv_nsec = 1000000};

        nanosleep(&ms, NULL);
    }
    MHD_stop_daemon(s->daemon);
    na_timer_free(s->timer);
    /* Until quiesced, the daemon owns the socket and has closed it. */
    if (s->quiesced)
        close(s->listen_fd);
    free(s);
}
