/*
 * pg: deadline-bound libpq calls and error classification (see
 * include/na/pg.h).
 */
#include "na/pg.h"

#include "na/clock.h"
#include "na/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libpq-events.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "na/resolve.h"

/*
 * Waits for `events` on the connection's socket, until the deadline but at
 * most `slice_ms` at a time. Returns 1 when ready, 0 when the slice or the
 * deadline passed, -1 on error.
 */
static int wait_socket(PGconn *conn, short events, uint64_t deadline_ns, int slice_ms)
{
    struct pollfd p = {.fd = PQsocket(conn), .events = events};
    uint64_t now = na_clock_ns();
    int ms, rc;

    if (p.fd < 0)
        return -1;
    if (now >= deadline_ns)
        return 0;
    ms = (int)((deadline_ns - now + 999999) / 1000000);
    if (slice_ms > 0 && ms > slice_ms)
        ms = slice_ms;
    rc = poll(&p, 1, ms);
    if (rc < 0)
        return errno == EINTR ? 0 : -1;
    return rc > 0;
}

static void copy_error(PGconn *conn, char *err, size_t errlen)
{
    const char *m = conn ? PQerrorMessage(conn) : "out of memory";
    size_t n;

    snprintf(err, errlen, "%s", m && *m ? m : "connection failed");
    n = strlen(err);
    while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
        err[--n] = '\0';
}

/*
 * A connection's mark that the server has ended its session: libpq's
 * instance data for this event procedure, set to &session_ended. The
 * procedure only needs to exist (libpq keeps instance data per registered
 * procedure); the mark points at static storage, so nothing is freed.
 */
static const char session_ended = 1;

static int ended_events(PGEventId id, void *info, void *pass)
{
    (void)id;
    (void)info;
    (void)pass;
    return 1;
}

/*
 * Server notices ("relation already exists, skipping") go to the debug log,
 * not stderr. An error that comes while no query runs is one too, for
 * libpq: a FATAL then is the server ending the session (a terminated
 * backend's last words, before the close), and marks the connection so.
 */
static void on_notice(void *arg, const PGresult *res)
{
    PGconn *conn = arg;
    const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    char text[256];

    if (severity && (!strcmp(severity, "FATAL") || !strcmp(severity, "PANIC")))
        PQsetInstanceData(conn, ended_events, (void *)&session_ended);
    snprintf(text, sizeof(text), "%s", PQresultErrorMessage(res));
    text[strcspn(text, "\n")] = '\0';
    na_logf(NA_LOG_DEBUG, "database notice", NA_LF_STR("notice", text));
}

/* The value of `key` among parsed conninfo options; NULL when unset or empty. */
static const char *option(const PQconninfoOption *opts, const char *key)
{
    for (; opts && opts->keyword; opts++) {
        if (!strcmp(opts->keyword, key))
            return opts->val && *opts->val ? opts->val : NULL;
    }
    return NULL;
}

/* Appends `item` to a comma-separated list; false when it does not fit. */
static bool list_add(char *list, size_t cap, const char *item, bool first)
{
    size_t len = strlen(list);
    int n = snprintf(list + len, cap - len, "%s%s", first ? "" : ",", item);

    return n >= 0 && (size_t)n < cap - len;
}

/* Item `i` of a comma-separated list into `out` ("" past its end). Returns the item count. */
static size_t list_item(const char *list, size_t i, char *out, size_t cap)
{
    size_t count = 0;

    out[0] = '\0';
    if (!list)
        return 0;
    for (const char *p = list;; count++) {
        size_t len = strcspn(p, ",");

        if (count == i)
            snprintf(out, cap, "%.*s", (int)len, p);
        if (!p[len])
            return count + 1;
        p += len + 1;
    }
}

static bool is_numeric(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/*
 * The hosts libpq would look up itself, resolved here within the connect
 * deadline: host=db.example.com becomes host=db.example.com,db.example.com
 * and hostaddr=10.0.0.5,10.0.0.6 (one entry per address, in the resolver's
 * order, as libpq would try them; host still names the server for TLS and
 * the password file). Sockets and numeric addresses pass as they are, and
 * a URL with its own hostaddr is left to libpq.
 */
struct host_plan {
    bool resolved; /* false: nothing to resolve, libpq goes by the URL */
    char host[2048], hostaddr[1024], port[512];
};

static int plan_hosts(const PQconninfoOption *opts, uint64_t deadline, const atomic_bool *stop,
                      struct host_plan *out, char *err, size_t errlen)
{
    const char *hosts = option(opts, "host"), *ports = option(opts, "port");
    size_t nhosts, nports, entries = 0, names_left = 0;
    char h[256], port[16];
    bool names = false;

    out->resolved = false;
    out->host[0] = out->hostaddr[0] = out->port[0] = '\0';
    if (!hosts || option(opts, "hostaddr"))
        return 0;
    nhosts = list_item(hosts, 0, h, sizeof(h));
    nports = list_item(ports, 0, port, sizeof(port));
    for (size_t i = 0; i < nhosts; i++) {
        list_item(hosts, i, h, sizeof(h));
        names = names || (h[0] && h[0] != '/' && h[0] != '@' && !is_numeric(h));
    }
    if (!names || (nports > 1 && nports != nhosts))
        return 0; /* libpq resolves nothing, or refuses the URL itself */
    for (size_t i = 0; i < nhosts; i++) {
        list_item(hosts, i, h, sizeof(h));
        names_left += h[0] && h[0] != '/' && h[0] != '@' && !is_numeric(h);
    }
    err[0] = '\0';
    for (size_t i = 0; i < nhosts; i++) {
        char addrs[NA_RESOLVE_MAX][NA_RESOLVE_ADDR_MAX], why[128];
        uint64_t now = na_clock_ns();
        size_t n = 1;

        list_item(hosts, i, h, sizeof(h));
        list_item(ports, nports > 1 ? i : 0, port, sizeof(port));
        if (!h[0] || h[0] == '/' || h[0] == '@' || is_numeric(h)) {
            addrs[0][0] = '\0'; /* a socket, or an address: libpq's as it is */
        } else if (na_resolve(h,
                              /* A share of what is left, so one stalled name cannot use it all. */
                              now < deadline ? (unsigned)((deadline - now) / 1000000 / names_left--)
                                             : 0,
                              stop, NULL, addrs, &n, why, sizeof(why))) {
            /* As libpq does, a host that cannot be resolved is skipped for the next. */
            if (!err[0])
                snprintf(err, errlen, "could not translate host name \"%.200s\" to address: %s", h,
                         why);
            continue;
        }
        for (size_t k = 0; k < n; k++) {
            if (!list_add(out->host, sizeof(out->host), h, !entries) ||
                !list_add(out->hostaddr, sizeof(out->hostaddr), addrs[k], !entries) ||
                !list_add(out->port, sizeof(out->port), port, !entries)) {
                snprintf(err, errlen, "too many database host addresses");
                return -1;
            }
            entries++;
        }
    }
    if (!entries)
        return -1;
    out->resolved = true;
    return 0;
}

PGconn *na_pg_connect(const struct na_pg_options *o, char *err, size_t errlen)
{
    char timeout[16], options[1024];
    const char *keys[16] = {"dbname",          "connect_timeout",     "fallback_application_name",
                            "options",         "client_encoding",     "keepalives",
                            "keepalives_idle", "keepalives_interval", "keepalives_count"};
    const char *vals[16] = {o->conninfo, timeout, "node-api", options, "UTF8",
                            "1",         "30",    "10",       "3"};
    size_t nkeys = 9;
    uint64_t deadline = na_clock_after_ms(o->connect_timeout_s * 1000u);
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    PQconninfoOption *opts = PQconninfoParse(o->conninfo, NULL);
    struct host_plan *plan = malloc(sizeof(*plan));
    const char *theirs;
    PGconn *conn = NULL;
    int n;

    if (!opts || !plan) {
        snprintf(err, errlen, "%s", opts ? "out of memory" : "DATABASE_URL does not parse");
        goto fail;
    }
    snprintf(timeout, sizeof(timeout), "%u", o->connect_timeout_s);
    /*
     * The URL's own options (say "-c search_path=app") stay; our
     * statement_timeout comes last, so it wins if the URL sets one too:
     * the client-side deadlines are derived from it.
     */
    theirs = option(opts, "options");
    /*
     * And a transaction left open by a client that vanished (a partition
     * that swallowed its close) ends soon after the client gave up on it,
     * releasing its locks, an Idempotency-Key's among them, rather than when
     * the server's keepalives notice, hours later.
     */
    n = snprintf(options, sizeof(options),
                 "%s%s-c statement_timeout=%u -c idle_in_transaction_session_timeout=%u",
                 theirs ? theirs : "", theirs ? " " : "", o->statement_timeout_ms,
                 o->statement_timeout_ms + 2000);
    if (n < 0 || (size_t)n >= sizeof(options)) {
        snprintf(err, errlen, "the options of DATABASE_URL are too long");
        goto fail;
    }
    /* libpq would resolve host names inside PQconnectStartParams, blocking: do it here. */
    if (plan_hosts(opts, deadline, o->stop, plan, err, errlen))
        goto fail;
    if (plan->resolved) {
        keys[nkeys] = "host";
        vals[nkeys++] = plan->host;
        keys[nkeys] = "hostaddr";
        vals[nkeys++] = plan->hostaddr;
        keys[nkeys] = "port";
        vals[nkeys++] = plan->port;
    }
    keys[nkeys] = vals[nkeys] = NULL;
    /* expand_dbname: the URL's own settings first; ours after them win. */
    conn = PQconnectStartParams(keys, vals, 1);
    if (!conn || PQstatus(conn) == CONNECTION_BAD) {
        copy_error(conn, err, errlen);
        goto fail;
    }
    while (st != PGRES_POLLING_OK) {
        int rc;

        if (st == PGRES_POLLING_FAILED) {
            copy_error(conn, err, errlen);
            goto fail;
        }
        /* Slices of 100 ms, to notice a shutdown while a host does not answer. */
        rc = wait_socket(conn, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline, 100);
        if (rc < 0 || (rc == 0 && na_clock_ns() >= deadline)) {
            snprintf(err, errlen, "connect timed out after %u s", o->connect_timeout_s);
            goto fail;
        }
        if (o->stop && atomic_load(o->stop)) {
            snprintf(err, errlen, "stopping");
            goto fail;
        }
        if (rc > 0)
            st = PQconnectPoll(conn);
    }
    PQsetNoticeReceiver(conn, on_notice, conn);
    if (!PQregisterEventProc(conn, ended_events, "node-api session end", NULL) ||
        PQsetnonblocking(conn, 1)) {
        copy_error(conn, err, errlen);
        goto fail;
    }
    PQconninfoFree(opts);
    free(plan);
    return conn;
fail:
    PQfinish(conn);
    PQconninfoFree(opts);
    free(plan);
    return NULL;
}

/*
 * What a dying backend sends (its FATAL message) may come before the end of
 * the stream: read until nothing is pending, a few times at most.
 */
bool na_pg_closed(PGconn *conn)
{
    struct pollfd p = {.fd = PQsocket(conn), .events = POLLIN};

    for (int i = 0; i < 4; i++) {
        if (p.fd < 0 || PQinstanceData(conn, ended_events))
            return true; /* closed, or its FATAL read already: the end is on its way */
        if (poll(&p, 1, 0) <= 0)
            return false; /* nothing pending: as good as it can be told */
        if (!PQconsumeInput(conn))
            return true;
        /* PQconsumeInput() only reads: PQisBusy() parses, and an error now is a notice. */
        (void)PQisBusy(conn);
        if (PQstatus(conn) != CONNECTION_OK)
            return true;
        p.fd = PQsocket(conn);
    }
    return PQinstanceData(conn, ended_events) != NULL;
}

/*
 * Sends what libpq holds, reading meanwhile (the server may answer before
 * it has read everything). 0 when all of it is with the kernel; -1 when the
 * connection failed or the deadline passed (fate->timed_out).
 */
static int flush_all(PGconn *conn, uint64_t deadline_ns, struct na_pg_fate *fate)
{
    int rc;

    while ((rc = PQflush(conn)) == 1) {
        int w = wait_socket(conn, POLLOUT | POLLIN, deadline_ns, 0);

        if (w <= 0) {
            fate->timed_out = w == 0;
            return -1;
        }
        if (!PQconsumeInput(conn))
            return -1;
    }
    return rc < 0 ? -1 : 0;
}

/*
 * Waits until a result can be read without blocking: 0, or -1 (failed, or
 * timed out). A connection that ended is read to its end first: what the
 * server said before closing it (a FATAL error with its SQLSTATE, when it
 * was terminated) is the outcome, and PQgetResult() gives it without
 * waiting once the connection is bad.
 */
static int await_result(PGconn *conn, uint64_t deadline_ns, struct na_pg_fate *fate)
{
    while (PQisBusy(conn)) {
        int w = wait_socket(conn, POLLIN, deadline_ns, 0);

        if (w <= 0) {
            fate->timed_out = w == 0;
            return -1;
        }
        if (!PQconsumeInput(conn))
            return PQstatus(conn) == CONNECTION_BAD ? 0 : -1;
    }
    return 0;
}

PGresult *na_pg_exec(PGconn *conn, const char *stmt, const char *sql, int nparams,
                     const char *const *params, uint64_t deadline_ns, struct na_pg_fate *fate)
{
    PGresult *res = NULL, *r;
    bool is_commit = sql && !stmt && !strcmp(sql, "COMMIT");
    int queued;

    fate->timed_out = fate->sent = fate->after_result = false;
    /*
     * A connection the server has closed since its last use (a restart, a
     * crash, an idle timeout) reads as ready with nothing but the end:
     * notice it before sending, so the call is known not to have run.
     */
    if (na_pg_closed(conn))
        return NULL;
    queued = stmt ? PQsendQueryPrepared(conn, stmt, nparams, params, NULL, NULL, 0)
                  : PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (!queued || flush_all(conn, deadline_ns, fate))
        return NULL;
    /* Every byte is with the kernel: from here the server may run it. */
    fate->sent = true;
    for (;;) {
        if (await_result(conn, deadline_ns, fate)) {
            PQclear(res);
            return NULL;
        }
        r = PQgetResult(conn);
        if (!r)
            break;
        /*
         * One statement, one result: keep the first, drain the rest. But an
         * autocommit statement commits at the end of its exchange, after its
         * rows: an error then (a deferred constraint, a serialization
         * failure, the backend ended) comes as a later result, and it is the
         * outcome. Not so for an explicit COMMIT: it commits before its own
         * result, and an error after it (a terminate the backend took as it
         * read the next message) ends the session, not the transaction.
         */
        if (!res) {
            res = r;
        } else if (PQresultStatus(r) == PGRES_FATAL_ERROR &&
                   PQresultStatus(res) != PGRES_FATAL_ERROR && !is_commit) {
            PQclear(res);
            res = r;
            fate->after_result = true;
        } else {
            PQclear(r);
        }
    }
    return res;
}

bool na_pg_classify(PGconn *conn, const PGresult *res, const struct na_pg_fate *fate, bool commits,
                    struct na_store_call *call)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *constraint = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    bool conn_ok = PQstatus(conn) == CONNECTION_OK && !fate->timed_out;

    /*
     * Never sent; or the backend ended (an operator, a failover, another
     * backend's crash) before the statement completed, and with it the
     * transaction: a commit comes before the statement's own result, and
     * no interrupt is taken between them.
     */
    call->not_run = !conn_ok && (res ? state && !fate->after_result &&
                                           (!strcmp(state, "57P01") || !strcmp(state, "57P02"))
                                     : !fate->sent && !fate->timed_out);
    if (!res || !state) {
        /*
         * No answer. A statement that commits and reached the server may
         * have committed: say so, and never invite a blind retry.
         */
        call->rc = commits && fate->sent ? NA_STORE_UNKNOWN : NA_STORE_UNAVAILABLE;
        snprintf(call->detail, sizeof(call->detail), "%s%s",
                 fate->timed_out ? "database did not answer in time" : "database connection lost",
                 call->rc == NA_STORE_UNKNOWN ? " after the write was sent" : ", retry later");
        return conn_ok && res;
    }
    /* An error answer: the statement, and its transaction, did not commit. */
    call->rc = NA_STORE_UNAVAILABLE;
    if (!strcmp(state, "57014")) {
        snprintf(call->detail, sizeof(call->detail), "database statement timed out, retry later");
    } else if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3) || !strncmp(state, "53", 2)) {
        /* Connection exceptions, shutdown or restart, out of resources. */
        snprintf(call->detail, sizeof(call->detail), "database unavailable, retry later");
    } else if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03") ||
               (!strcmp(state, "23505") && constraint && !strcmp(constraint, NA_PG_KEYS_PKEY))) {
        /* Serialization, deadlock, lock; two writers of one Idempotency-Key: a retry settles it. */
        snprintf(call->detail, sizeof(call->detail), "database conflict, retry");
    } else if (!strncmp(state, "23", 2)) {
        /* A constraint of the table's (one the operator added, say): retrying cannot help. */
        call->rc = NA_STORE_CONFLICT;
        snprintf(call->detail, sizeof(call->detail),
                 "the database refused the write: it breaks constraint \"%.60s\"",
                 constraint ? constraint : "unknown");
    } else if (!strcmp(state, "42P01")) {
        snprintf(call->detail, sizeof(call->detail),
                 "database schema missing: run node-api migrate");
    } else {
        /* The server's own words go to the log, not to the client. */
        call->rc = NA_STORE_ERROR;
        snprintf(call->detail, sizeof(call->detail), "database error (SQLSTATE %s)", state);
    }
    return conn_ok;
}
