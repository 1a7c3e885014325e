/*
 * server: the libmicrohttpd daemon, the connections, admission, deadlines
 * and the drain (see include/na/server.h). One request's path is in
 * request.c; the listening socket in listener.c.
 */
#include "na/server.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "na/budget.h"
#include "na/clock.h"
#include "na/log.h"
#include "na/reply.h"

/* How long the stop waits for cut-off requests to send their 503. */
#define STOP_FLUSH_MS 1000
/* A connection idle this long (since its accept or its last answer) may be closed to make room. */
#define EVICT_AGE_MS 1000u
/* Connections closed to make room and not yet gone, at most. */
#define EVICT_MAX 64u
/*
 * /api/cpu burns waiting per worker thread, at most; the next is answered
 * 503. A parked burn costs only its connection, already in the plan.
 */
#define CPU_QUEUE_PER_THREAD 64u

/* ---- connections -------------------------------------------------------- */

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

static struct conn *conn_new(struct na_server *s, struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ai =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const union MHD_ConnectionInfo *fi =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct conn *c = calloc(1, sizeof(*c));
    uint64_t now = na_clock_ns();

    if (!c)
        return NULL;
    c->srv = s;
    c->mhd = mc;
    c->fd = fi ? fi->connect_fd : -1;
    strcpy(c->peer, "unknown");
    if (ai && ai->client_addr)
        format_peer(ai->client_addr, c->peer, sizeof(c->peer));
    c->accepted_ns = now;
    atomic_init(&c->idle_since_ns, now);
    atomic_init(&c->state, CONN_IDLE);
    /* The first request's head is due HEADERS_TIMEOUT_S after the connect, as in Node. */
    atomic_init(&c->deadline_ns, now + (uint64_t)s->cfg->headers_timeout_s * 1000000000u);
    atomic_init(&c->served, 0);
    atomic_init(&c->cut, false);
    atomic_init(&c->parked_on, PARK_NONE);
    atomic_init(&c->gone, false);
    return c;
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct na_server *s = cls;
    struct conn *c = *socket_context;

    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (c) {
            /* Under the lock, and before libmicrohttpd closes it: the sweep never meets a stale
             * socket. */
            pthread_mutex_lock(&s->lock);
            if (c->prev)
                c->prev->next = c->next;
            else
                s->head = c->next;
            if (c->next)
                c->next->prev = c->prev;
            else
                s->tail = c->prev;
            if (c->cand_slot)
                s->cands[c->cand_slot - 1] = NULL;
            if (c->evicted)
                atomic_fetch_sub_explicit(&s->evicting, 1, memory_order_relaxed);
            pthread_mutex_unlock(&s->lock);
            free(c);
        }
        *socket_context = NULL;
        atomic_fetch_sub_explicit(&s->app->connections, 1, memory_order_release);
        return;
    }
    c = conn_new(s, mc);
    if (c) {
        pthread_mutex_lock(&s->lock);
        c->prev = s->tail;
        if (s->tail)
            s->tail->next = c;
        else
            s->head = c;
        s->tail = c;
        pthread_mutex_unlock(&s->lock);
    }
    *socket_context = c;
}

/*
 * Tells a connection closed from outside libmicrohttpd why (408 past a
 * deadline, as Node does; 503 when closed to make room) rather than closing
 * without a word. Called with the lock held, on a connection libmicrohttpd
 * has no answer queued on.
 */
static void send_raw(struct conn *c, unsigned status, const char *message, unsigned retry_after_s)
{
    char out[NA_ENCODE_SMALL_MAX + 512];
    size_t n = na_reply_raw(status, message, NULL, 0, NULL, retry_after_s, false, out, sizeof(out));

    if (c->fd >= 0 && n)
        (void)!send(c->fd, out, n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/*
 * Closes a connection from outside libmicrohttpd, first telling it why
 * when `status` is not 0; called with the lock held. The mark comes before
 * the answer: a client that reads the answer and closes at once makes its
 * worker complete the request, and that worker must already see it cut
 * (counted as a closed connection, not a request aborted).
 */
static void cut(struct conn *c, unsigned status, const char *message, unsigned retry_after_s)
{
    atomic_store_explicit(&c->cut, true, memory_order_release);
    if (status)
        send_raw(c, status, message, retry_after_s);
    if (c->fd >= 0)
        shutdown(c->fd, SHUT_RDWR); /* the daemon sees it end, and closes it */
}

/*
 * True when the client has closed its side (or the connection failed),
 * even behind bytes not read yet (a stray CRLF): POLLRDHUP says so where a
 * peek would see only the bytes. A client that only half-closes is taken
 * as gone too, as nginx takes it: it cannot be told apart without sending.
 */
static bool peer_gone(const struct conn *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLRDHUP};

    return c->fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* ---- the listener's side ------------------------------------------------ */

static bool room(void *cls)
{
    struct na_server *s = cls;

    return atomic_load_explicit(&s->app->connections, memory_order_acquire) <
           s->cfg->budget.max_connections;
}

/* True when a request has arrived on `c`'s socket that libmicrohttpd has not read yet. */
static bool has_unread(const struct conn *c)
{
    int n = 0;

    return c->fd >= 0 && !ioctl(c->fd, FIONREAD, &n) && n > 0;
}

/*
 * How long `c` has been idle as of `now`. A worker may have answered it
 * since `now` was read: an idle_since after `now` is no age at all (the
 * unsigned difference would be the largest).
 */
static uint64_t idle_ns(struct conn *c, uint64_t now)
{
    uint64_t since = atomic_load_explicit(&c->idle_since_ns, memory_order_relaxed);

    return since < now ? now - since : 0;
}

/*
 * At the limit, a new connection whose head is in may take the place of
 * one that has been idle for a second, as nginx reuses idle keep-alive
 * connections: one that never sent a request first (a slowloris, a client
 * gone quiet), else the one idle longest among those the sweep gathered. A
 * connection with a request waiting unread in its socket is not idle. The
 * one taken is answered 503 (Connection: close, Retry-After) before the
 * close, and the compare-and-swap on its state means that a request its
 * worker has just read does not run: the 503 is true, and a retry safe.
 */
static bool make_room(void *cls)
{
    struct na_server *s = cls;
    uint64_t now = na_clock_ns();
    bool made = false;

    if (atomic_load_explicit(&s->evicting, memory_order_relaxed) >= EVICT_MAX)
        return false;
    pthread_mutex_lock(&s->lock);
    while (!made && s->next_cand < s->ncands) {
        struct conn *c = s->cands[s->next_cand++];
        int idle = CONN_IDLE;

        if (!c)
            continue; /* closed since the sweep */
        c->cand_slot = 0;
        /*
         * IDLE read (acquire) before its idle_since: a worker stores
         * idle_since, then moves to IDLE (release), so the age read after is
         * this idle period's. Read before, a connection answered a moment
         * ago would show the age of its last idle period, and be taken.
         */
        if (conn_state(c) != CONN_IDLE || atomic_load_explicit(&c->cut, memory_order_relaxed) ||
            idle_ns(c, now) < EVICT_AGE_MS * 1000000ull || has_unread(c) ||
            !atomic_compare_exchange_strong_explicit(&c->state, &idle, CONN_CUT,
                                                     memory_order_acq_rel, memory_order_acquire))
            continue; /* busy again since the sweep, or about to be */
        cut(c, 503, "connection closed to make room for a new one (MAX_CONNECTIONS), retry", 1);
        c->evicted = true;
        s->evicted++;
        atomic_fetch_add_explicit(&s->evicting, 1, memory_order_relaxed);
        made = true;
    }
    pthread_mutex_unlock(&s->lock);
    return made;
}

/*
 * Gathers the candidates to make room (with the lock held, in the sweep's
 * walk): connections idle for a second, never served first, then served
 * ones, both in accept order, NA_EVICT_CANDIDATES at most.
 */
static void gather(struct na_server *s, uint64_t now)
{
    struct conn *served[NA_EVICT_CANDIDATES];
    unsigned n = 0, nserved = 0;

    for (unsigned i = s->next_cand; i < s->ncands; i++)
        if (s->cands[i])
            s->cands[i]->cand_slot = 0;
    for (struct conn *c = s->head; c && n < NA_EVICT_CANDIDATES; c = c->next) {
        if (conn_state(c) != CONN_IDLE || atomic_load_explicit(&c->cut, memory_order_relaxed) ||
            idle_ns(c, now) < EVICT_AGE_MS * 1000000ull)
            continue;
        if (!atomic_load_explicit(&c->served, memory_order_relaxed))
            s->cands[n++] = c;
        else if (nserved < NA_EVICT_CANDIDATES)
            served[nserved++] = c;
    }
    for (unsigned i = 0; i < nserved && n < NA_EVICT_CANDIDATES; i++)
        s->cands[n++] = served[i];
    for (unsigned i = 0; i < n; i++)
        s->cands[i]->cand_slot = i + 1;
    s->ncands = n;
    s->next_cand = 0;
}

static int admit(void *cls, int fd, const struct sockaddr *sa, socklen_t len)
{
    struct na_server *s = cls;

    atomic_fetch_add_explicit(&s->app->connections, 1, memory_order_relaxed);
    if (MHD_add_connection(s->daemon, fd, sa, len) == MHD_YES)
        return 0;
    /* libmicrohttpd has closed the socket; it will not tell us of it again. */
    atomic_fetch_sub_explicit(&s->app->connections, 1, memory_order_release);
    return -1;
}

/* True when the request line is GET or HEAD of /health (as the router reads it). */
static bool asks_health(const char *head, size_t n)
{
    const char *line_end = memchr(head, '\n', n), *p = head, *path;
    size_t len;

    if (!line_end)
        return false;
    if (n >= 4 && !memcmp(p, "GET ", 4))
        p += 4;
    else if (n >= 5 && !memcmp(p, "HEAD ", 5))
        p += 5;
    else
        return false;
    path = p;
    len = strcspn(path, " ?\r\n");
    if (path + len > line_end)
        return false;
    if (len == 8 && path[7] == '/')
        len = 7;
    return len == 7 && !strncasecmp(path, "/health", 7);
}

/*
 * The answer for a connection over the limit: the health check's own for
 * `GET /health` (a prober always gets through), 503 for anything else;
 * both with Connection: close.
 */
static size_t refusal(void *cls, const char *head, size_t n, char *out, size_t cap)
{
    struct na_server *s = cls;
    char storage[NA_ENCODE_SMALL_MAX], msg[96];
    struct na_buf b;
    unsigned status;

    if (asks_health(head, n)) {
        na_buf_init(&b, storage, sizeof(storage));
        status = na_handle_health(s->app, &b);
        return na_reply_raw(status, NULL, b.data, b.len, NULL, status == 503 ? 1 : 0,
                            n >= 5 && !memcmp(head, "HEAD ", 5), out, cap);
    }
    snprintf(msg, sizeof(msg), "too many connections (%u open), retry",
             s->cfg->budget.max_connections);
    /* HEAD: the same head, no body (RFC 9110 9.3.2). */
    return na_reply_raw(503, msg, NULL, 0, NULL, 1, n >= 5 && !memcmp(head, "HEAD ", 5), out, cap);
}

/*
 * Every 100 ms: closes connections past their deadline. A head must be in
 * HEADERS_TIMEOUT_S after the connect (the first request) or after
 * KEEPALIVE_TIMEOUT_S + HEADERS_TIMEOUT_S of quiet (later ones), its body
 * REQUEST_TIMEOUT_S after the previous answer, and its answer sent
 * SEND_TIMEOUT_S after it was queued: a client that trickles bytes (or
 * reads them a few at a time) keeps libmicrohttpd's idle timeout from ever
 * firing, not these.
 */
static void tick(void *cls)
{
    struct na_server *s = cls;
    uint64_t now = na_clock_ns(), cuts;
    bool look = ++s->ticks % 10 == 0, poke_timer = false, poke_worker = false;

    pthread_mutex_lock(&s->lock);
    for (struct conn *c = s->head; c; c = c->next) {
        if (look && conn_state(c) == CONN_PARKED && !atomic_load(&c->gone)) {
            /*
             * A load test's wait (a delay, a CPU burn) whose client has gone
             * ends early: the burn stops, the delay fires as cancelled.
             */
            int on = atomic_load_explicit(&c->parked_on, memory_order_relaxed);

            if ((on == PARK_TIMER || on == PARK_WORKER) && peer_gone(c)) {
                atomic_store(&c->gone, true);
                poke_timer |= on == PARK_TIMER;
                poke_worker |= on == PARK_WORKER;
            }
        }
        /*
         * The state first (acquire), then its deadline: a worker sets the
         * deadline before the state it belongs to, so read the other way
         * round a connection answered a moment ago would pair its new state
         * with the old state's deadline, and be cut.
         */
        enum conn_state st = conn_state(c);
        uint64_t d = atomic_load_explicit(&c->deadline_ns, memory_order_relaxed);

        if (!d || now < d || atomic_load_explicit(&c->cut, memory_order_relaxed))
            continue;
        if (st == CONN_IDLE) {
            int idle = CONN_IDLE;

            /* As in make_room(): a head that completes at this very moment does not run. */
            if (!atomic_compare_exchange_strong_explicit(
                    &c->state, &idle, CONN_CUT, memory_order_acq_rel, memory_order_acquire))
                continue;
            cut(c, 408, "request headers not received within HEADERS_TIMEOUT_S", 0);
            s->cut_headers++;
        } else if (st == CONN_ANSWERED) {
            /*
             * A reset, not a close: the kernel would otherwise keep the
             * socket, orphaned, sending what is left of the answer to a
             * client that reads it a byte at a time. Where the option
             * cannot be set, the close is all there is.
             */
            struct linger reset = {.l_onoff = 1, .l_linger = 0};

            if (c->fd >= 0 && setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset)))
                s->cut_unreset++;
            cut(c, 0, NULL, 0);
            s->cut_sends++;
        } else {
            if (st == CONN_READING || st == CONN_DROPPING)
                cut(c, 408, "request not received within REQUEST_TIMEOUT_S", 0);
            else
                cut(c, 0, NULL, 0);
            s->cut_requests++;
        }
    }
    gather(s, now);
    cuts = s->cut_headers + s->cut_requests + s->cut_sends + s->evicted;
    pthread_mutex_unlock(&s->lock);
    /* Outside the lock: the pokes resume connections. A waiting burn gives up its place. */
    if (poke_timer)
        na_timer_poke(s->timer);
    if (poke_worker && s->worker)
        na_worker_poke(s->worker);
    if (cuts != s->logged_cuts) {
        /* One line per tick however many: a slowloris must not flood the log. */
        na_logf(NA_LOG_WARN, "closed slow or silent connections",
                NA_LF_INT("headers_timeouts", s->cut_headers),
                NA_LF_INT("request_timeouts", s->cut_requests),
                NA_LF_INT("send_timeouts", s->cut_sends),
                NA_LF_INT("send_timeouts_not_reset", s->cut_unreset),
                NA_LF_INT("closed_to_make_room", s->evicted),
                NA_LF_INT("headers_timeout_s", s->cfg->headers_timeout_s),
                NA_LF_INT("request_timeout_s", s->cfg->request_timeout_s),
                NA_LF_INT("send_timeout_s", s->cfg->send_timeout_s));
        s->logged_cuts = cuts;
    }
}

/* ---- the daemon --------------------------------------------------------- */

/*
 * The request line's target, before libmicrohttpd splits and decodes it:
 * remembered so that on_unescape() can tell the path (routed as it came,
 * as Express routes) from the query arguments (decoded). Returns NULL, the
 * request's context until on_request sets it.
 */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn *c = ci ? ci->socket_context : NULL;

    (void)cls;
    if (c)
        c->uri = uri;
    return NULL;
}

/* libmicrohttpd decodes the arguments, then the path (the same buffer as on_uri's). */
static size_t on_unescape(void *cls, struct MHD_Connection *mc, char *s)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn *c = ci ? ci->socket_context : NULL;

    (void)cls;
    if (c && s == c->uri)
        return strlen(s); /* the path: routed raw, its parameter decoded by the router */
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

static struct MHD_OptionItem *daemon_options(struct na_server *s, struct MHD_OptionItem *ops)
{
    const struct na_config *cfg = s->cfg;
    size_t n = 0;

#define OPT(o, v, p) (ops[n++] = (struct MHD_OptionItem){(o), (intptr_t)(v), (p)})
    /* The logger first, or libmicrohttpd logs the options before it its own way. */
    OPT(MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, NULL);
    /* A pool of one is refused with a warning: one thread is the plain internal thread. */
    if (cfg->threads > 1)
        OPT(MHD_OPTION_THREAD_POOL_SIZE, cfg->threads, NULL);
    /*
     * The limit is ours (room()). libmicrohttpd's is split evenly between
     * its threads, and one over its share closes a connection we admitted
     * without a word (or a notification, so it would never be counted
     * out): give every thread room for all of ours, and the evictions in
     * flight. It allocates nothing by the limit.
     */
    OPT(MHD_OPTION_CONNECTION_LIMIT,
        (cfg->budget.max_connections + 2 * EVICT_MAX) * (cfg->threads > 1 ? cfg->threads : 1),
        NULL);
    OPT(MHD_OPTION_CONNECTION_TIMEOUT, cfg->keepalive_timeout_s, NULL);
    OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, NA_CONN_POOL_BYTES, NULL);
    OPT(MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)na_conn_on_completed, s);
    OPT(MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s);
    OPT(MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, NULL);
    OPT(MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)on_unescape, NULL);
    OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
    return ops;
}

struct na_server *na_server_start(struct na_app *app, char *err, size_t errlen)
{
    const struct na_config *cfg = app->cfg;
    struct na_server *s = calloc(1, sizeof(*s));
    struct MHD_OptionItem ops[13];
    unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                     MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
    struct na_listener_options lo = {
        .host = cfg->host,
        .port = cfg->port,
        .sndbuf = NA_SOCK_SNDBUF,
        .rcvbuf = NA_SOCK_RCVBUF,
        .refuse_max = cfg->budget.refuse_max,
    };
    struct na_listener_ops lops = {
        .room = room,
        .make_room = make_room,
        .admit = admit,
        .refusal = refusal,
        .tick = tick,
    };

    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->app = app;
    s->cfg = cfg;
    atomic_init(&s->drained, 0);
    atomic_init(&s->evicting, 0);
    pthread_mutex_init(&s->lock, NULL);
    s->listener = na_listener_open(&lo, err, errlen);
    if (!s->listener)
        goto fail;
    s->timer = na_timer_new(na_conn_on_timer, na_conn_gone);
    if (!s->timer) {
        snprintf(err, errlen, "cannot start the timer thread");
        goto fail;
    }
    /* /api/cpu burns on a thread per CPU the service has, never on an event loop. */
    if (cfg->loadtest_routes) {
        s->worker = na_worker_new(cfg->threads, CPU_QUEUE_PER_THREAD * cfg->threads,
                                  na_conn_on_work, na_conn_gone);
        if (!s->worker) {
            snprintf(err, errlen, "cannot start the CPU worker threads");
            goto fail;
        }
    }
    if (na_listener_family(s->listener) == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, na_conn_on_request, s, MHD_OPTION_ARRAY,
                                 daemon_options(s, ops), MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(err, errlen, "libmicrohttpd failed to start (THREADS=%u, MAX_CONNECTIONS=%u)",
                 cfg->threads, cfg->budget.max_connections);
        goto fail;
    }
    lops.cls = s;
    if (na_listener_start(s->listener, &lops)) {
        snprintf(err, errlen, "cannot start the listener thread");
        goto fail;
    }
    return s;
fail:
    na_listener_free(s->listener);
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    na_worker_free(s->worker);
    na_timer_free(s->timer);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return NULL;
}

unsigned na_server_port(const struct na_server *s)
{
    return na_listener_port(s->listener);
}

void na_server_drain(struct na_server *s)
{
    atomic_store(&s->app->draining, true);
    /* New connects are refused at once, so a client or load balancer retries elsewhere. */
    na_listener_close(s->listener);
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

void na_server_stats(struct na_server *s, struct na_server_stats *out)
{
    struct na_listener_stats ls;

    na_listener_stats(s->listener, &ls);
    out->connections = atomic_load(&s->app->connections);
    out->drained = atomic_load(&s->drained);
    out->draining = atomic_load(&s->app->draining);
    out->accepted = ls.accepted;
    out->refused = ls.refused;
    pthread_mutex_lock(&s->lock);
    out->headers_timeouts = s->cut_headers;
    out->request_timeouts = s->cut_requests;
    out->send_timeouts = s->cut_sends;
    out->evicted = s->evicted;
    pthread_mutex_unlock(&s->lock);
}

void na_server_stop(struct na_server *s)
{
    if (!s)
        return;
    /* Nothing new arrives, and nothing is cut from outside, from here on. */
    na_listener_free(s->listener);
    /*
     * libmicrohttpd aborts if stopped with connections still suspended:
     * answer every deferred reply first, timers and store calls alike.
     */
    na_timer_flush(s->timer);
    if (s->worker)
        na_worker_flush(s->worker); /* a burn running ends early, with its 503 */
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
    na_worker_free(s->worker);
    na_timer_free(s->timer);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
