/*
 * openloop: an open-loop HTTP/1.1 load generator, for make bench's overload
 * section. wrk is closed-loop: each connection sends its next request when
 * the last is answered, so a server that slows down is sent less, and the
 * offered load never exceeds what it can take. Here requests are due at a
 * fixed rate whatever the answers do, each sent on an idle keep-alive
 * connection (or queued until one frees), and its latency is measured from
 * when it was due, not when it was sent: a server behind its load shows it.
 *
 *   openloop HOST PORT PATH RATE SECONDS CONNECTIONS
 *
 * Prints one JSON line: requests due, sent and answered (2xx, 503, other),
 * errors, those still unanswered at the end, and latency percentiles of the
 * 2xx and of the 503 answers, in microseconds.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { IDLE, BUSY, CONNECTING, DEAD };

struct conn {
    int fd, state;
    uint64_t due_ns; /* the request on it: when it was due */
    size_t len;
    char buf[16384];
};

struct lat {
    uint32_t *us;
    size_t n, cap;
};

static struct conn *conns;
static int nconns, *idle, nidle, ep;
static struct sockaddr_in addr;
static char request[512];
static size_t request_len;
static uint64_t *queue; /* due times waiting for a connection */
static size_t qhead, qcount, qcap;
static unsigned long long due, sent, ok2xx, s503, other, errors;
static struct lat lat2xx, lat503;

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void record(struct lat *l, uint64_t ns)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 65536;
        uint32_t *grown = realloc(l->us, cap * sizeof(*grown));

        if (!grown)
            return;
        l->us = grown;
        l->cap = cap;
    }
    l->us[l->n++] = (uint32_t)(ns / 1000 > UINT32_MAX ? UINT32_MAX : ns / 1000);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

static unsigned long pct(struct lat *l, double p)
{
    size_t i;

    if (!l->n)
        return 0;
    i = (size_t)(p / 100.0 * (double)(l->n - 1) + 0.5);
    return l->us[i];
}

static int open_conn(int i)
{
    struct conn *c = &conns[i];
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)i};
    int one = 1;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0)
        return -1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) && errno != EINPROGRESS) {
        close(c->fd);
        return -1;
    }
    c->state = CONNECTING;
    c->len = 0;
    return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void send_on(int i, uint64_t due_ns)
{
    struct conn *c = &conns[i];

    c->due_ns = due_ns;
    c->len = 0;
    c->state = BUSY;
    if (send(c->fd, request, request_len, MSG_NOSIGNAL) != (ssize_t)request_len) {
        /* Lost (an error); the connection comes back through a reconnect. */
        errors++;
        close(c->fd);
        if (open_conn(i))
            c->state = DEAD;
        return;
    }
    sent++;
}

/* A connection is free: the oldest queued request goes on it, or it waits. */
static void freed(int i)
{
    if (qcount) {
        uint64_t d = queue[qhead];

        qhead = (qhead + 1) % qcap;
        qcount--;
        send_on(i, d);
    } else {
        conns[i].state = IDLE;
        idle[nidle++] = i;
    }
}

/* Parses what has arrived; true when one whole answer is in (counted). */
static int answered(struct conn *c, uint64_t now, int *close_after)
{
    char *end = memmem(c->buf, c->len, "\r\n\r\n", 4), *p;
    size_t head, body = 0;
    int status;

    if (!end)
        return 0;
    head = (size_t)(end - c->buf) + 4;
    *end = '\0';
    status = atoi(c->buf + 9);
    *close_after = 0;
    for (p = c->buf; (p = strchr(p, '\n')); p++) {
        if (!strncasecmp(p + 1, "content-length:", 15))
            body = strtoul(p + 16, NULL, 10);
        else if (!strncasecmp(p + 1, "connection: close", 17))
            *close_after = 1;
    }
    *end = '\r';
    if (c->len < head + body)
        return 0;
    if (status >= 200 && status < 300) {
        ok2xx++;
        record(&lat2xx, now - c->due_ns);
    } else if (status == 503) {
        s503++;
        record(&lat503, now - c->due_ns);
    } else {
        other++;
    }
    return 1;
}

static void on_event(int i, uint32_t events, uint64_t now)
{
    struct conn *c = &conns[i];

    if (c->state == CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
            errors++;
            close(c->fd);
            c->state = DEAD;
            return;
        }
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        freed(i);
        return;
    }
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    for (;;) {
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len - 1, 0);
        int close_after;

        if (n > 0) {
            c->len += (size_t)n;
            if (c->state == BUSY && answered(c, now, &close_after)) {
                if (close_after) {
                    close(c->fd);
                    if (open_conn(i))
                        c->state = DEAD;
                    return;
                }
                freed(i);
                return;
            }
            if (c->len >= sizeof(c->buf) - 1)
                c->len = 0; /* a body larger than the buffer: its tail is not read here */
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        /* Closed or reset: the request on it, if any, is an error; reconnect. */
        if (c->state == BUSY)
            errors++;
        close(c->fd);
        if (open_conn(i))
            c->state = DEAD;
        return;
    }
}

int main(int argc, char **argv)
{
    struct epoll_event events[256];
    uint64_t start, end, next, period;
    double rate;
    unsigned seconds;

    if (argc != 7) {
        fprintf(stderr, "usage: %s HOST PORT PATH RATE SECONDS CONNECTIONS\n", argv[0]);
        return 2;
    }
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1)
        return 2;
    request_len = (size_t)snprintf(request, sizeof(request), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n",
                                   argv[3], argv[1]);
    rate = atof(argv[4]);
    seconds = (unsigned)atoi(argv[5]);
    nconns = atoi(argv[6]);
    if (rate <= 0 || !seconds || nconns <= 0)
        return 2;
    conns = calloc((size_t)nconns, sizeof(*conns));
    idle = calloc((size_t)nconns, sizeof(*idle));
    qcap = (size_t)(rate * seconds) + 1;
    queue = calloc(qcap, sizeof(*queue));
    ep = epoll_create1(0);
    if (!conns || !idle || !queue || ep < 0)
        return 1;
    for (int i = 0; i < nconns; i++)
        if (open_conn(i)) {
            fprintf(stderr, "openloop: cannot connect\n");
            return 1;
        }
    /* Connected first, then the clock starts. */
    for (uint64_t t = now_ns() + 5000000000u; nidle < nconns && now_ns() < t;) {
        int n = epoll_wait(ep, events, 256, 10);

        for (int k = 0; k < n; k++)
            on_event((int)events[k].data.u32, events[k].events, now_ns());
    }
    period = (uint64_t)(1e9 / rate);
    start = now_ns();
    end = start + (uint64_t)seconds * 1000000000u;
    next = start;
    for (;;) {
        uint64_t now = now_ns();
        int timeout, n;

        while (next <= now && next < end) {
            due++;
            if (nidle)
                send_on(idle[--nidle], next);
            else if (qcount < qcap)
                queue[(qhead + qcount++) % qcap] = next;
            next += period;
        }
        if (now >= end + 2000000000u || (now >= end && nidle == nconns))
            break; /* the load is over and answered, or 2 s past it */
        /* Spin while the next request is due within a millisecond. */
        timeout = next < end && next - now < 1000000u ? 0 : 1;
        n = epoll_wait(ep, events, 256, timeout);
        now = now_ns();
        for (int k = 0; k < n; k++)
            on_event((int)events[k].data.u32, events[k].events, now);
    }
    qsort(lat2xx.us, lat2xx.n, sizeof(uint32_t), cmp_u32);
    qsort(lat503.us, lat503.n, sizeof(uint32_t), cmp_u32);
    printf("{\"rate\":%.0f,\"seconds\":%u,\"connections\":%d,\"due\":%llu,\"sent\":%llu,"
           "\"ok\":%llu,\"shed\":%llu,\"other\":%llu,\"errors\":%llu,\"unanswered\":%llu,"
           "\"ok_p50_us\":%lu,\"ok_p99_us\":%lu,\"ok_p999_us\":%lu,\"shed_p50_us\":%lu,"
           "\"shed_p99_us\":%lu}\n",
           rate, seconds, nconns, due, sent, ok2xx, s503, other, errors,
           due - ok2xx - s503 - other, pct(&lat2xx, 50), pct(&lat2xx, 99), pct(&lat2xx, 99.9),
           pct(&lat503, 50), pct(&lat503, 99));
    return 0;
}
