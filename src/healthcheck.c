/*
 * healthcheck: a minimal HTTP/1.1 client for GET /health (see
 * include/na/healthcheck.h).
 */
#include "na/healthcheck.h"

#include "na/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Waits for `events` on fd until the deadline; 0 when ready, -1 on timeout. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = na_clock_ns();
        long ms = now < deadline ? (long)((deadline - now + 999999) / 1000000) : 0;
        struct pollfd p = {.fd = fd, .events = events};
        int rc;

        if (ms <= 0)
            return -1;
        rc = poll(&p, 1, (int)ms);
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

static int connect_to(const char *host, unsigned port, uint64_t deadline, char *why, size_t whylen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char portstr[8];
    int fd = -1, rc, soerr = 0;
    socklen_t sl = sizeof(soerr);

    snprintf(portstr, sizeof(portstr), "%u", port);
    rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc) {
        snprintf(why, whylen, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(why, whylen, "socket: %s", strerror(errno));
        goto out;
    }
    if (connect(fd, res->ai_addr, res->ai_addrlen) && errno != EINPROGRESS) {
        snprintf(why, whylen, "connect to %s:%u: %s", host, port, strerror(errno));
        goto fail;
    }
    if (wait_fd(fd, POLLOUT, deadline)) {
        snprintf(why, whylen, "connect to %s:%u: timed out", host, port);
        goto fail;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) || soerr) {
        snprintf(why, whylen, "connect to %s:%u: %s", host, port, strerror(soerr));
        goto fail;
    }
    goto out;
fail:
    close(fd);
    fd = -1;
out:
    freeaddrinfo(res);
    return fd;
}

int na_healthcheck(const struct na_config *cfg, unsigned timeout_ms)
{
    static const char request[] = "GET /health HTTP/1.1\r\nHost: localhost\r\n"
                                  "User-Agent: node-api-healthcheck\r\nConnection: close\r\n\r\n";
    const char *host = cfg->host;
    uint64_t deadline;
    char buf[256], why[320] = "";
    size_t got = 0, sent = 0;
    int fd, status = 0;

    /* A wildcard address is not one to connect to: use loopback of its family. */
    if (!strcmp(host, "0.0.0.0"))
        host = "127.0.0.1";
    else if (!strcmp(host, "::"))
        host = "::1";
    if (!cfg->port) {
        fprintf(stderr, "healthcheck: PORT is 0, no port to check\n");
        return 1;
    }
    deadline = na_clock_after_ms(timeout_ms);
    fd = connect_to(host, cfg->port, deadline, why, sizeof(why));
    if (fd < 0)
        goto out;
    while (sent < sizeof(request) - 1) {
        ssize_t n = send(fd, request + sent, sizeof(request) - 1 - sent, MSG_NOSIGNAL);

        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_fd(fd, POLLOUT, deadline)) {
                snprintf(why, sizeof(why), "sending the request: timed out");
                goto out;
            }
            continue;
        }
        if (n < 0) {
            snprintf(why, sizeof(why), "sending the request: %s", strerror(errno));
            goto out;
        }
        sent += (size_t)n;
    }
    /* The status line is all we need: "HTTP/1.1 200 OK\r\n". */
    while (!memchr(buf, '\n', got) && got < sizeof(buf) - 1) {
        ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);

        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_fd(fd, POLLIN, deadline)) {
                snprintf(why, sizeof(why), "waiting for the answer: timed out after %u ms",
                         timeout_ms);
                goto out;
            }
            continue;
        }
        if (n <= 0) {
            snprintf(why, sizeof(why), "connection closed before an answer");
            goto out;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    if (sscanf(buf, "HTTP/1.%*1[01] %3d", &status) != 1)
        snprintf(why, sizeof(why), "not an HTTP answer");
out:
    if (fd >= 0)
        close(fd);
    if (status == 200) {
        printf("healthy: GET /health on %s:%u answered 200\n", host, cfg->port);
        return 0;
    }
    if (status)
        fprintf(stderr, "unhealthy: GET /health on %s:%u answered %d\n", host, cfg->port, status);
    else
        fprintf(stderr, "unhealthy: %s\n", why);
    return 1;
}
