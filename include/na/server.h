/*
 * server: the HTTP front on libmicrohttpd.
 *
 * One request reads top to bottom: on_request() routes it, runs the
 * handler, turns the reply into a response (na_server's respond()), and
 * on_completed() writes the access log line. Worker threads are
 * libmicrohttpd's own pool in poll mode (its epoll loop stalls at 128 ready
 * connections per thread), THREADS of them. Each connection carries a
 * context allocated once at accept and reused by every request on it, so
 * the hot routes allocate nothing of ours.
 *
 * Drain (na_server_drain): /health turns 503, the listen socket is taken
 * back from libmicrohttpd and shut down so new connects are refused at once
 * instead of hanging in the backlog, and every response from then on says
 * `Connection: close`. The caller waits for na_server_connections() to reach
 * zero, which is the only point at which no request can be lost: in-flight
 * reaching zero is not, as the next request may already be on the wire.
 */
#ifndef NA_SERVER_H
#define NA_SERVER_H

#include <stdint.h>

#include "na/app.h"

struct na_server;

/*
 * Binds HOST:PORT and starts the worker threads. Returns the server, or
 * NULL with `err` saying why (the message names HOST or PORT).
 */
struct na_server *na_server_start(struct na_app *app, char *err, size_t errlen);

/* The bound TCP port (useful with PORT=0). */
unsigned na_server_port(const struct na_server *s);

/* Starts the drain; idempotent. */
void na_server_drain(struct na_server *s);

uint64_t na_server_connections(const struct na_server *s);
uint64_t na_server_in_flight(const struct na_server *s);

/* Requests that finished after the drain began. */
uint64_t na_server_drained_requests(const struct na_server *s);

/* What the server has seen since it started (connections: now), for the metrics. */
struct na_server_stats {
    uint64_t connections, drained;
    bool draining;
    unsigned long long accepted, refused; /* refused: answered 503 at the connection limit */
    unsigned long long headers_timeouts, request_timeouts, send_timeouts;
    unsigned long long evicted; /* idle connections closed to make room for new ones */
};

/* Any thread; takes the connection list's lock for a moment. */
void na_server_stats(struct na_server *s, struct na_server_stats *out);

/*
 * Stops: answers delayed requests still waiting with 503, closes every
 * connection, joins the threads and frees. NULL is a no-op.
 */
void na_server_stop(struct na_server *s);

#endif
