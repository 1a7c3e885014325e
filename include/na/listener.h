/*
 * listener: the listening socket, and every connection that arrives on it.
 *
 * libmicrohttpd stops accepting at its connection limit, and connections
 * beyond it wait in the kernel's backlog unanswered: a load balancer sees
 * timeouts, not a refusal it could retry elsewhere, and a flood of idle
 * connections is an outage. So node-api accepts itself, on a thread of its
 * own, and for each new connection asks its owner (the server) whether
 * there is room; if there is, the connection goes to libmicrohttpd. If
 * not, the listener waits (a second at most) for its request head, peeking
 * at it and leaving it in the socket: once the head is whole, the
 * connection has shown it is not silent, and the owner may make room for
 * it (closing one idle for a second, as nginx reuses idle keep-alive
 * connections), in which case it goes to libmicrohttpd, which reads the
 * head itself. Otherwise the listener
 * answers it: `GET /health` with the owner's health answer (so a prober
 * always gets through), anything else with the owner's 503 and
 * Connection: close, and closes; a request with a body still coming is
 * read and dropped for a moment first, so the client reads the answer
 * rather than a reset. A connection that sends nothing in the second is
 * answered 503 too, and can never take a place: a slowloris that reconnects
 * cannot take back the places it loses.
 *
 * At most `refuse_max` connections are in those states at once (so
 * descriptors and memory stay within the plan); when they are full, the
 * oldest is ended (one lingering after its answer, else the one that has
 * waited longest, answered as it is), so that a connect is always met at
 * once: connections that send nothing cannot keep a prober in the backlog.
 *
 * The thread also calls the owner's tick every 100 ms (the server's
 * deadlines sweep). Callbacks run on the listener's thread.
 */
#ifndef NA_LISTENER_H
#define NA_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct na_listener_ops {
    /* True when there is room for one more connection. */
    bool (*room)(void *cls);
    /*
     * Makes room by closing a connection that may be given up, for one whose
     * head is in; true if it did (the new one is then admitted at once).
     */
    bool (*make_room)(void *cls);
    /* Takes a connection (the descriptor is the callee's, closed on failure); 0 or -1. */
    int (*admit)(void *cls, int fd, const struct sockaddr *sa, socklen_t len);
    /*
     * Writes the whole response for a refused connection whose request head
     * starts with head[0..n) (n may be 0: nothing came in time) into `out`;
     * returns its length.
     */
    size_t (*refusal)(void *cls, const char *head, size_t n, char *out, size_t cap);
    /* Every 100 ms. */
    void (*tick)(void *cls);
    void *cls;
};

struct na_listener_options {
    const char *host;   /* HOST: a literal or a name */
    unsigned port;      /* 0: any free port */
    int sndbuf, rcvbuf; /* SO_SNDBUF and SO_RCVBUF of every connection; 0: the kernel's */
    unsigned refuse_max;
    unsigned wait_ms; /* a refused connection's wait for its head; 0: 1000 */
};

/* What the listener did, since it started. */
struct na_listener_stats {
    unsigned long long accepted, refused, dropped; /* dropped: closed unanswered (out of memory) */
};

struct na_listener;

/*
 * Binds and listens (IPv6 "::" serves IPv4 too). Returns the listener, not
 * yet accepting, or NULL with `err` naming HOST or PORT.
 */
struct na_listener *na_listener_open(const struct na_listener_options *o, char *err, size_t errlen);

/* The bound port; its address family (AF_INET or AF_INET6). */
unsigned na_listener_port(const struct na_listener *l);
int na_listener_family(const struct na_listener *l);

/* Starts the thread. Returns 0, or -1 if it cannot start. */
int na_listener_start(struct na_listener *l, const struct na_listener_ops *ops);

/*
 * Stops accepting: the socket is shut down, so new connects are refused at
 * once rather than left in the backlog. Returns once they are (the thread
 * acknowledges within one round of its loop; the wait is bounded at 1 s).
 * The thread goes on ticking. Idempotent; any thread but the listener's.
 */
void na_listener_close(struct na_listener *l);

void na_listener_stats(struct na_listener *l, struct na_listener_stats *out);

/* Stops the thread (answering what it still holds), closes and frees. NULL is a no-op. */
void na_listener_free(struct na_listener *l);

#endif
