/*
 * conn.h: the server's state and a connection's, shared by server.c (the
 * daemon, the connections, admission and deadlines) and request.c (one
 * request, from its head to its answer). Private to src/: the contract is
 * include/na/server.h.
 *
 * A connection's state changes on the libmicrohttpd thread that owns the
 * connection, and in two places elsewhere: a timer, store or worker thread
 * moves a parked request to READY (resume()), or the timer moves one parked
 * for an injected delay back to READING (it has not run yet), after which
 * libmicrohttpd's own lock hands it back to the owning thread; and the listener thread moves
 * an IDLE connection to CUT (to make room, or past its headers deadline), by compare-and-swap, as
 * the owning thread's IDLE -> READING at a request's head is too: exactly one wins, so a request
 * either runs or is answered 503 unrun, never both. The listener thread reads the state and the
 * deadlines (atomic) to enforce deadlines and make room, and sets `gone` (atomic) on a parked
 * load-test wait whose client has left; it touches nothing else of a connection but its socket,
 * with the list lock held, which NOTIFY_CLOSED takes before libmicrohttpd closes it.
 */
#ifndef NA_CONN_H
#define NA_CONN_H

#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "na/app.h"
#include "na/handlers.h"
#include "na/listener.h"
#include "na/reqid.h"
#include "na/timer.h"
#include "na/worker.h"

/* Candidates to make room gathered per sweep (100 ms): at most this many evictions per sweep. */
#define NA_EVICT_CANDIDATES 256u

struct conn;

struct na_server {
    struct na_app *app;
    const struct na_config *cfg;
    struct MHD_Daemon *daemon;
    struct na_timer *timer;
    struct na_worker *worker; /* /api/cpu's burns; NULL without the load-testing routes */
    struct na_listener *listener;
    atomic_uint_fast64_t drained; /* requests finished since the drain began */
    atomic_uint evicting;         /* connections closed to make room, not yet gone */

    /*
     * Every open connection, oldest first; and the candidates to close to
     * make room, gathered by the sweep (which walks every connection each
     * 100 ms anyway): connections idle for a second, those never served
     * first, and popped by make_room(), so that finding one costs the same
     * however many are being served. A connection that closes clears its
     * slot. All under the lock.
     */
    pthread_mutex_t lock;
    struct conn *head, *tail;
    struct conn *cands[NA_EVICT_CANDIDATES];
    unsigned ncands, next_cand;

    unsigned long ticks; /* the sweep's, every 100 ms */

    /* The listener thread's counts, logged as they change. */
    unsigned long long cut_headers, cut_requests, cut_sends, evicted, logged_cuts;
    unsigned long long cut_unreset; /* send timeouts closed without the reset (setsockopt failed) */
};

/*
 * Where a connection is. IDLE is between requests (or before the first);
 * the head has arrived in every other state.
 */
enum conn_state {
    CONN_IDLE,     /* awaiting a request's head: deadline HEADERS_TIMEOUT_S */
    CONN_READING,  /* the body, if any, arriving and kept: deadline REQUEST_TIMEOUT_S */
    CONN_DROPPING, /* the body read and dropped; the refusal in `reply` follows it */
    CONN_PARKED,   /* suspended until a timer, a blocking store or a worker has the answer
                    * (or, for an injected delay, until the request may run: READING) */
    CONN_INLINE,   /* a store that does not block is answering on this thread */
    CONN_READY,    /* the deferred answer is in `reply`: on_request sends it */
    CONN_ANSWERED, /* the response is queued: deadline SEND_TIMEOUT_S */
    CONN_CUT,      /* closed from IDLE by the listener (to make room: 503; at the headers
                    * deadline: 408): nothing more runs on it */
};

enum conn_park { PARK_NONE, PARK_TIMER, PARK_WORKER, PARK_STORE };

/* Per-connection context: allocated at accept, reused by each request. */
struct conn {
    struct conn *prev, *next; /* the server's list, under its lock */
    unsigned cand_slot;       /* 1 + its index in the server's cands; 0: none (the lock) */
    bool evicted;             /* closed to make room: counted in `evicting` (the lock) */
    struct na_server *srv;
    struct MHD_Connection *mhd;
    int fd;          /* libmicrohttpd's socket; -1 if unknown */
    const char *uri; /* the request line's target, while it is parsed (the owning thread's) */
    char peer[INET6_ADDRSTRLEN];
    uint64_t accepted_ns;
    atomic_uint_fast64_t idle_since_ns; /* accepted, or the last answer sent */
    atomic_int state;                   /* enum conn_state */
    atomic_uint_fast64_t deadline_ns;   /* closed by the sweep once past it; 0: none */
    atomic_uint served;                 /* requests answered */
    atomic_bool cut;                    /* closed by the sweep or to make room */
    /*
     * What a PARKED request waits on (set before the state), and whether
     * its client has gone: the sweep looks, once a second, at those parked
     * on the timer or a worker (load tests), whose wait is theirs alone to
     * end early; a store call is left to finish.
     */
    atomic_int parked_on; /* enum conn_park */
    atomic_bool gone;

    /* The current request; reset when it begins. */
    bool log_this;
    bool answered_raw; /* answered straight on the socket: the close is ours */
    bool used_db;      /* answered by the database: its time goes in Server-Timing */
    /*
     * An injected delay (fault.h): WAITING while parked for it (the timer
     * then moves the request back to READING, to run), WAITED after; CUT
     * when the delay ended early (the client gone, the server stopping).
     */
    enum { FAULT_NONE, FAULT_WAITING, FAULT_WAITED, FAULT_CUT } fault_phase;
    uint64_t started_ns;
    uint64_t body_bytes; /* received, kept or not */
    char *body;          /* kept body, for routes that take one */
    size_t body_cap;
    uint64_t declared; /* the body's Content-Length; 0: none (or chunked) */
    uint64_t reserved; /* of the body pool, as its bytes arrive */
    unsigned status;   /* as queued */
    size_t bytes;
    struct na_request req;
    char request_id[NA_REQID_MAX + 1];
    struct na_reply reply;
};

static inline enum conn_state conn_state(const struct conn *c)
{
    return (enum conn_state)atomic_load_explicit(&c->state, memory_order_acquire);
}

/* Moves `c` to `to`, asserting it was in one of the states of the mask `from`. */
void na_conn_move(struct conn *c, unsigned from, enum conn_state to);

#define CONN_IN(s) (1u << (s))

/* request.c: libmicrohttpd's request callbacks, and the timer's. */
enum MHD_Result na_conn_on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_size, void **req_cls);
void na_conn_on_completed(void *cls, struct MHD_Connection *mc, void **req_cls,
                          enum MHD_RequestTerminationCode toe);
void na_conn_on_timer(void *cls, bool cancelled);
bool na_conn_gone(void *cls);
void na_conn_on_work(void *cls, bool cancelled);

#endif
