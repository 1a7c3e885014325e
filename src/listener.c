/*
 * listener: accept, admission and refusal on a thread of its own (see
 * include/na/listener.h).
 *
 * One epoll set holds the listening socket, an eventfd that wakes the
 * thread, and the connections over the limit (edge-triggered, as a head is
 * peeked at, not read, until it is whole). They wait for their head in one
 * list and linger after their answer in another; each list's deadlines are
 * a fixed time after entry, so each is in deadline order and expires from
 * its head, and ending the oldest when the lists are full is taking a head.
 */
#include "na/listener.h"

#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "na/clock.h"
#include "na/log.h"

#define TICK_MS      100u
#define WAIT_MS      1000u /* for a refused connection's request line, unless wait_ms says */
#define LINGER_MS    500u  /* reading and dropping after the answer */
#define LINGER_MAX   65536u
#define ACCEPT_BURST 64
#define PAUSE_MS     100u /* out of descriptors: accept again after this */

/*
 * A connection that arrived over the limit: first WAITING, its request
 * head peeked at (left in the socket, so that libmicrohttpd can still read
 * it if the connection is admitted), then, refused, ANSWERED and lingering.
 */
enum refused_state {
    REFUSED_WAITING,  /* head peeked until whole: admitted if room can be made, else answered */
    REFUSED_ANSWERED, /* answered and half-closed: reading and dropping what still comes */
    REFUSED_GONE,     /* closed or admitted: freed after the batch of events in hand */
};

struct refused {
    int fd;
    enum refused_state state;
    uint64_t deadline_ns;
    size_t got, dropped;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char head[1024];
    struct refused *prev, *next;
};

/* A queue in deadline order. */
struct queue {
    struct refused *head, *tail;
};

struct na_listener {
    struct na_listener_options o;
    struct na_listener_ops ops;
    int fd, family, ep, wake;
    unsigned port;
    pthread_t thread;
    bool started;
    bool listening;        /* the socket is in the epoll set (the thread's) */
    uint64_t paused_until; /* out of descriptors until then (the thread's) */
    bool shut;             /* the socket is shut down: the drain (the thread's) */
    atomic_bool stop, closing;
    atomic_bool closed; /* the thread has shut the socket: na_listener_close() waits for it */
    struct queue waiting, lingering; /* the thread's */
    struct refused *graveyard;       /* gone, freed after the current batch (the thread's) */
    unsigned nrefused;
    atomic_ullong accepted, refused_n, dropped;
};

/* epoll tags for the two descriptors that are not refused connections. */
static char tag_listen, tag_wake;

static void push(struct queue *q, struct refused *r)
{
    r->next = NULL;
    r->prev = q->tail;
    if (q->tail)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
}

/* Removes `r`, which is in `q`. */
static void unlink_from(struct queue *q, struct refused *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        q->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        q->tail = r->prev;
    r->prev = r->next = NULL;
}

/* ---- opening ------------------------------------------------------------ */

static int set_int(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof(value));
}

static int open_socket(const struct na_listener_options *o, int *family, unsigned *port, char *err,
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
    const char *what = "listen";

    snprintf(portstr, sizeof(portstr), "%u", o->port);
    rc = getaddrinfo(o->host, portstr, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "HOST \"%.200s\" does not resolve: %s", o->host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);

        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        /*
         * Accepted sockets inherit the buffer sizes: bounded, so what the
         * kernel holds per connection (charged to the container on cgroup
         * v2) is in the memory plan.
         */
        if (set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) ||
            (ai->ai_family == AF_INET6 && set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0)) ||
            (o->sndbuf && set_int(fd, SOL_SOCKET, SO_SNDBUF, o->sndbuf)) ||
            (o->rcvbuf && set_int(fd, SOL_SOCKET, SO_RCVBUF, o->rcvbuf))) {
            what = "set the options of the socket for";
        } else if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, SOMAXCONN) ||
                   getsockname(fd, (struct sockaddr *)&ss, &sl)) {
            what = "listen on";
        } else {
            *family = ai->ai_family;
            *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
            break;
        }
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, errlen, "cannot %s HOST \"%.200s\" PORT %u: %s", what, o->host, o->port,
                 strerror(saved));
    return fd;
}

struct na_listener *na_listener_open(const struct na_listener_options *o, char *err, size_t errlen)
{
    struct na_listener *l = calloc(1, sizeof(*l));

    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->o = *o;
    l->ep = l->wake = -1;
    atomic_init(&l->stop, false);
    atomic_init(&l->closed, false);
    atomic_init(&l->closing, false);
    atomic_init(&l->accepted, 0);
    atomic_init(&l->refused_n, 0);
    atomic_init(&l->dropped, 0);
    l->fd = open_socket(o, &l->family, &l->port, err, errlen);
    if (l->fd < 0) {
        free(l);
        return NULL;
    }
    return l;
}

unsigned na_listener_port(const struct na_listener *l)
{
    return l->port;
}

int na_listener_family(const struct na_listener *l)
{
    return l->family;
}

/* ---- refusals ----------------------------------------------------------- */

/*
 * Frees `r` once the batch of events in hand is done: an event of its own
 * may still be in it (ending the oldest to make room for a newcomer does
 * that), and must find it marked gone rather than freed.
 */
static void bury(struct na_listener *l, struct refused *r)
{
    r->state = REFUSED_GONE;
    r->fd = -1;
    r->next = l->graveyard;
    l->graveyard = r;
}

static void refused_close(struct na_listener *l, struct queue *q, struct refused *r)
{
    unlink_from(q, r);
    epoll_ctl(l->ep, EPOLL_CTL_DEL, r->fd, NULL);
    close(r->fd);
    bury(l, r);
    l->nrefused--;
}

/* True when the head is whole, announces no body, and nothing came after it. */
static bool all_read(const struct refused *r)
{
    const char *end = memmem(r->head, r->got, "\r\n\r\n", 4);

    if (!end || (size_t)(end + 4 - r->head) != r->got)
        return false;
    for (const char *p = r->head; p < end; p++) {
        if ((*p | 0x20) == 'c' && !strncasecmp(p, "content-length:", 15))
            return false;
        if ((*p | 0x20) == 't' && !strncasecmp(p, "transfer-encoding:", 18))
            return false;
    }
    return true;
}

/*
 * Sends the owner's answer and half-closes. The bytes peeked at are read
 * first, so that what lingers is only what came after. A connection whose
 * request is all read closes at once (so does one answered early to make
 * room among the refusals: `now`); one that may still send (a body, a
 * head not yet whole) lingers to read and drop what comes, so that the
 * close is not a reset that would lose the answer.
 */
static void refused_answer(struct na_listener *l, struct refused *r, bool now)
{
    char out[2048];
    size_t n = l->ops.refusal(l->ops.cls, r->head, r->got, out, sizeof(out));

    assert(r->state == REFUSED_WAITING);
    if (r->got)
        (void)!recv(r->fd, r->head, r->got, MSG_DONTWAIT);
    /* Counted before the client can see its answer: whoever reads the stats after it
       has been answered (a test, a scrape) finds it there. */
    atomic_fetch_add_explicit(&l->refused_n, 1, memory_order_relaxed);
    /* A fresh socket's buffer takes these few hundred bytes at once. */
    if (n)
        (void)!send(r->fd, out, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(r->fd, SHUT_WR);
    r->state = REFUSED_ANSWERED;
    unlink_from(&l->waiting, r);
    r->deadline_ns = na_clock_after_ms(LINGER_MS);
    push(&l->lingering, r);
    if (now || all_read(r))
        refused_close(l, &l->lingering, r);
}

/* The head peeked is whole, or as much as is looked at: there is no more to wait for. */
static bool head_in(const struct refused *r)
{
    return r->got == sizeof(r->head) || memmem(r->head, r->got, "\r\n\r\n", 4);
}

/*
 * Its head is in: a connection that has shown it is not silent may take
 * the place of one that is (or a place that came free); anything else is
 * answered. A silent one waits for its deadline, and cannot take places.
 */
static void refused_decide(struct na_listener *l, struct refused *r)
{
    if (!l->ops.room(l->ops.cls) && !l->ops.make_room(l->ops.cls)) {
        refused_answer(l, r, false);
        return;
    }
    unlink_from(&l->waiting, r);
    epoll_ctl(l->ep, EPOLL_CTL_DEL, r->fd, NULL);
    l->nrefused--;
    l->ops.admit(l->ops.cls, r->fd, (struct sockaddr *)&r->addr, r->addrlen);
    bury(l, r);
}

/* Edge-triggered: each call reads (or peeks at) all there is. */
static void refused_io(struct na_listener *l, struct refused *r)
{
    char drop[4096];
    ssize_t n;

    if (r->state == REFUSED_GONE)
        return; /* ended earlier in this batch */
    if (r->state == REFUSED_WAITING) {
        n = recv(r->fd, r->head, sizeof(r->head), MSG_PEEK);
        if (n > 0) {
            r->got = (size_t)n;
            if (head_in(r))
                refused_decide(l, r);
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            refused_close(l, &l->waiting, r); /* gone before its answer */
        }
        return;
    }
    for (;;) {
        n = recv(r->fd, drop, sizeof(drop), 0);
        if (n > 0)
            r->dropped += (size_t)n;
        if (n == 0 || r->dropped > LINGER_MAX || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            refused_close(l, &l->lingering, r);
            return;
        }
        if (n < 0 && errno == EAGAIN)
            return;
    }
}

static void refuse(struct na_listener *l, int fd, const struct sockaddr_storage *ss, socklen_t sl)
{
    struct refused *r = calloc(1, sizeof(*r));
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET};

    if (!r) {
        close(fd);
        atomic_fetch_add_explicit(&l->dropped, 1, memory_order_relaxed);
        return;
    }
    r->fd = fd;
    r->state = REFUSED_WAITING;
    r->addr = *ss;
    r->addrlen = sl;
    r->deadline_ns = na_clock_after_ms(l->o.wait_ms ? l->o.wait_ms : WAIT_MS);
    ev.data.ptr = r;
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev)) {
        close(fd);
        free(r);
        atomic_fetch_add_explicit(&l->dropped, 1, memory_order_relaxed);
        return;
    }
    push(&l->waiting, r);
    l->nrefused++;
    refused_io(l, r); /* the request may be in already */
}

/*
 * The refusals are full: ends the oldest, so that a newcomer (a prober, a
 * client that will send at once) is never kept in the backlog by
 * connections that send nothing. One lingering after its answer goes
 * first; else the one that has waited longest for its head is answered
 * now.
 */
static void reclaim(struct na_listener *l)
{
    struct refused *r = l->waiting.head;
    ssize_t n;

    if (l->lingering.head) {
        refused_close(l, &l->lingering, l->lingering.head);
        return;
    }
    if (!r)
        return;
    /* Its head may have come in since its last event was read (a prober's, under a flood). */
    n = recv(r->fd, r->head, sizeof(r->head), MSG_PEEK | MSG_DONTWAIT);
    if (n > 0)
        r->got = (size_t)n;
    if (n > 0 && head_in(r))
        refused_decide(l, r);
    else
        refused_answer(l, r, true);
}

static void free_buried(struct na_listener *l)
{
    while (l->graveyard) {
        struct refused *r = l->graveyard;

        l->graveyard = r->next;
        free(r);
    }
}

static void expire(struct na_listener *l, uint64_t now)
{
    while (l->waiting.head && l->waiting.head->deadline_ns <= now)
        refused_answer(l, l->waiting.head, false); /* no whole head in time: answer anyway */
    while (l->lingering.head && l->lingering.head->deadline_ns <= now)
        refused_close(l, &l->lingering, l->lingering.head);
}

/* ---- accepting ---------------------------------------------------------- */

static void set_listening(struct na_listener *l, bool on)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &tag_listen};

    if (on == l->listening)
        return;
    if (on ? epoll_ctl(l->ep, EPOLL_CTL_ADD, l->fd, &ev)
           : epoll_ctl(l->ep, EPOLL_CTL_DEL, l->fd, NULL))
        return;
    l->listening = on;
}

/*
 * Accepts a burst: into libmicrohttpd while there is room, else among the
 * refusals, ending the oldest of those when they are full. It never stops
 * accepting for load (only when out of descriptors, for a moment): a
 * connect is always met at once.
 */
static void accept_some(struct na_listener *l)
{
    for (int i = 0; i < ACCEPT_BURST; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        bool admit = l->ops.room(l->ops.cls);
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Connects wait in the backlog meanwhile: try again shortly. */
                set_listening(l, false);
                l->paused_until = na_clock_after_ms(PAUSE_MS);
                na_logf(NA_LOG_WARN, "out of descriptors: accepting again in 100 ms",
                        NA_LF_STR("error", strerror(errno)));
            }
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            return;
        }
        atomic_fetch_add_explicit(&l->accepted, 1, memory_order_relaxed);
        if (admit) {
            l->ops.admit(l->ops.cls, fd, (struct sockaddr *)&ss, sl);
            continue;
        }
        /* Only for a connection in hand: ending one for nothing would be a refusal lost. */
        if (l->nrefused >= l->o.refuse_max)
            reclaim(l);
        refuse(l, fd, &ss, sl);
    }
}

/* Milliseconds until the next thing to do, for epoll_wait. */
static int next_timeout(const struct na_listener *l, uint64_t now, uint64_t next_tick)
{
    uint64_t until = next_tick;

    if (l->waiting.head && l->waiting.head->deadline_ns < until)
        until = l->waiting.head->deadline_ns;
    if (l->lingering.head && l->lingering.head->deadline_ns < until)
        until = l->lingering.head->deadline_ns;
    if (l->paused_until && l->paused_until < until)
        until = l->paused_until;
    return until > now ? (int)((until - now + 999999) / 1000000) : 0;
}

static void *listener_main(void *arg)
{
    struct na_listener *l = arg;
    uint64_t next_tick = na_clock_after_ms(TICK_MS);

    while (!atomic_load(&l->stop)) {
        struct epoll_event evs[64];
        uint64_t now = na_clock_ns();
        int n = epoll_wait(l->ep, evs, 64, next_timeout(l, now, next_tick));

        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &tag_listen) {
                accept_some(l);
            } else if (evs[i].data.ptr == &tag_wake) {
                uint64_t v;

                (void)!read(l->wake, &v, sizeof(v));
            } else {
                refused_io(l, evs[i].data.ptr);
            }
        }
        if (atomic_load(&l->closing) && !l->shut) {
            if (l->fd >= 0) {
                set_listening(l, false);
                /* Connects are refused at once from now on, not left hanging in the backlog. */
                shutdown(l->fd, SHUT_RDWR);
            }
            l->shut = true;
            atomic_store(&l->closed, true);
            l->paused_until = 0;
        }
        now = na_clock_ns();
        expire(l, now);
        free_buried(l);
        if (l->paused_until && now >= l->paused_until && !atomic_load(&l->closing)) {
            l->paused_until = 0;
            set_listening(l, true);
        }
        if (now >= next_tick) {
            l->ops.tick(l->ops.cls);
            next_tick = now + TICK_MS * 1000000ull;
        }
    }
    /* Stopping: what still waits gets its answer. */
    while (l->waiting.head)
        refused_answer(l, l->waiting.head, true);
    while (l->lingering.head)
        refused_close(l, &l->lingering, l->lingering.head);
    free_buried(l);
    return NULL;
}

int na_listener_start(struct na_listener *l, const struct na_listener_ops *ops)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &tag_wake};

    l->ops = *ops;
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    l->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->ep < 0 || l->wake < 0 || epoll_ctl(l->ep, EPOLL_CTL_ADD, l->wake, &ev))
        return -1;
    set_listening(l, true);
    if (!l->listening || pthread_create(&l->thread, NULL, listener_main, l))
        return -1;
    l->started = true;
    return 0;
}

static void wake(struct na_listener *l)
{
    uint64_t one = 1;

    if (l->wake >= 0)
        (void)!write(l->wake, &one, sizeof(one));
}

void na_listener_close(struct na_listener *l)
{
    if (!l || atomic_exchange(&l->closing, true))
        return;
    if (!l->started) {
        shutdown(l->fd, SHUT_RDWR);
        return;
    }
    wake(l);
    /* Returns once connects are refused, so that whatever the caller does next (log the
     * drain, answer a health check) happens after: bounded, as the thread only has to
     * finish one round of its loop. */
    for (int i = 0; i < 1000 && !atomic_load(&l->closed); i++)
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
}

void na_listener_stats(struct na_listener *l, struct na_listener_stats *out)
{
    out->accepted = atomic_load_explicit(&l->accepted, memory_order_relaxed);
    out->refused = atomic_load_explicit(&l->refused_n, memory_order_relaxed);
    out->dropped = atomic_load_explicit(&l->dropped, memory_order_relaxed);
}

void na_listener_free(struct na_listener *l)
{
    if (!l)
        return;
    if (l->started) {
        atomic_store(&l->stop, true);
        wake(l);
        pthread_join(l->thread, NULL);
    }
    if (l->fd >= 0)
        close(l->fd);
    if (l->ep >= 0)
        close(l->ep);
    if (l->wake >= 0)
        close(l->wake);
    free(l);
}
