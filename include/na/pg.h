/*
 * pg: libpq with deadlines.
 *
 * Every connect and query here is non-blocking libpq driven by poll() with
 * a client-side deadline, so a database that stops answering (a dead host,
 * a network partition) costs a bounded wait and a dropped connection, never
 * a thread stuck for the kernel's TCP timeout. Server-side, each connection
 * also carries statement_timeout, added to the URL's own `options`.
 *
 * Host names are resolved before libpq sees them (it would block in
 * getaddrinfo for as long as DNS takes), within the same connect deadline
 * and watching the stop flag: a stalled DNS server costs a worker at most
 * DB_CONNECT_TIMEOUT_S per attempt and never holds up the shutdown.
 *
 * Failures are classified for the store: what certainly did not happen
 * and a retry may cure (down, timed out on the server, restarting,
 * overloaded) is NA_STORE_UNAVAILABLE (503); a write that was sent and got
 * no answer may have committed, NA_STORE_UNKNOWN (504); the rest is
 * NA_STORE_ERROR (500).
 */
#ifndef NA_PG_H
#define NA_PG_H

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "na/store.h"

/* The primary key of idempotency_keys: its violation is a race a retry settles. */
#define NA_PG_KEYS_PKEY "idempotency_keys_pkey"

struct na_pg_options {
    const char *conninfo; /* DATABASE_URL: a URL or key=value string; borrowed */
    unsigned connect_timeout_s;
    unsigned statement_timeout_ms;
    const atomic_bool *stop; /* may be NULL; connecting gives up when it turns true */
};

/*
 * Connects. Returns the connection (caller frees with PQfinish), or NULL
 * with the reason in `err` (libpq's words; they never hold the password).
 */
PGconn *na_pg_connect(const struct na_pg_options *o, char *err, size_t errlen);

/*
 * True when the server has closed the connection since its last statement
 * (it ended the session: a restart, a failover, pg_terminate_backend, an
 * idle timeout), as what it sent meanwhile shows: its FATAL message (which
 * libpq reads as a notice while no query runs: a connection marks itself
 * ended on it, whenever it is read) or the end of the stream. Reads only
 * what is pending; never blocks. Call between statements.
 */
bool na_pg_closed(PGconn *conn);

/* What became of a statement that got no result. */
struct na_pg_fate {
    bool timed_out;    /* the deadline passed */
    bool sent;         /* every byte of it reached the kernel: the server may have run it */
    bool after_result; /* the error returned came after the statement's own result */
};

/*
 * Runs a prepared statement (`stmt`) or, with stmt NULL, the SQL text in
 * `sql`, waiting for its result until `deadline_ns` (na_clock_ns() time).
 * Returns the result (caller frees with PQclear) or NULL when the
 * connection failed or the deadline passed: the connection is then
 * unusable (PQstatus is bad, or fate->timed_out is set) and must be closed.
 */
PGresult *na_pg_exec(PGconn *conn, const char *stmt, const char *sql, int nparams,
                     const char *const *params, uint64_t deadline_ns, struct na_pg_fate *fate);

/*
 * Classifies a failed or missing result into call->rc and call->detail.
 * `commits` says the statement commits a write on success (an autocommit
 * write, or COMMIT): without an answer after it was sent, its outcome is
 * unknown (NA_STORE_UNKNOWN, 504) rather than unavailable (503). Sets
 * call->not_run when the statement certainly did not run, or did not
 * commit, and the connection is gone with it: never sent, or ended by the
 * server (a terminated backend's FATAL, 57P01 or 57P02) before it
 * completed; such a call may run again on another connection. Returns
 * true when the connection is still good for another query.
 */
bool na_pg_classify(PGconn *conn, const PGresult *res, const struct na_pg_fate *fate, bool commits,
                    struct na_store_call *call);

#endif
