/*
 * pg: deadline-bound libpq calls and error classification (see
 * include/na/pg.h).
 */
#include "na/pg.h"

#include "na/clock.h"
#include "na/log.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

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

/* Server notices ("relation already exists, skipping") go to the debug log, not stderr. */
static void on_notice(void *arg, const char *message)
{
    char text[256];

    (void)arg;
    snprintf(text, sizeof(text), "%s", message);
    text[strcspn(text, "\n")] = '\0';
    na_logf(NA_LOG_DEBUG, "database notice", NA_LF_STR("notice", text));
}

PGconn *na_pg_connect(const struct na_pg_options *o, char *err, size_t errlen)
{
    char timeout[16], options[64];
    const char *keys[] = {"dbname",
                          "connect_timeout",
                          "fallback_application_name",
                          "options",
                          "client_encoding",
                          "keepalives",
                          "keepalives_idle",
                          "keepalives_interval",
                          "keepalives_count",
                          NULL};
    const char *vals[] = {o->conninfo, timeout, "node-api", options, "UTF8",
                          "1",         "30",    "10",       "3",     NULL};
    uint64_t deadline = na_clock_after_ms(o->connect_timeout_s * 1000u);
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    PGconn *conn;

    snprintf(timeout, sizeof(timeout), "%u", o->connect_timeout_s);
    snprintf(options, sizeof(options), "-c statement_timeout=%u", o->statement_timeout_ms);
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
    PQsetNoticeProcessor(conn, on_notice, NULL);
    if (PQsetnonblocking(conn, 1)) {
        copy_error(conn, err, errlen);
        goto fail;
    }
    return conn;
fail:
    PQfinish(conn);
    return NULL;
}

PGresult *na_pg_exec(PGconn *conn, const char *stmt, const char *sql, int nparams,
                     const char *const *params, uint64_t deadline_ns, bool *timed_out)
{
    PGresult *res = NULL, *r;
    int sent, rc;

    *timed_out = false;
    sent = stmt ? PQsendQueryPrepared(conn, stmt, nparams, params, NULL, NULL, 0)
                : PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (!sent)
        return NULL;
    while ((rc = PQflush(conn)) == 1) {
        int w = wait_socket(conn, POLLOUT | POLLIN, deadline_ns, 0);

        if (w <= 0) {
            *timed_out = w == 0;
            return NULL;
        }
        if (!PQconsumeInput(conn))
            return NULL;
    }
    if (rc < 0)
        return NULL;
    for (;;) {
        while (PQisBusy(conn)) {
            int w = wait_socket(conn, POLLIN, deadline_ns, 0);

            if (w <= 0) {
                *timed_out = w == 0;
                PQclear(res);
                return NULL;
            }
            if (!PQconsumeInput(conn)) {
                PQclear(res);
                return NULL;
            }
        }
        r = PQgetResult(conn);
        if (!r)
            break;
        /* One statement, one result: keep the first, drain the rest. */
        if (!res)
            res = r;
        else
            PQclear(r);
    }
    return res;
}

bool na_pg_classify(PGconn *conn, const PGresult *res, bool timed_out, struct na_store_call *call)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    bool conn_ok = PQstatus(conn) == CONNECTION_OK && !timed_out;

    if (!res || !state) {
        call->rc = NA_STORE_UNAVAILABLE;
        snprintf(call->detail, sizeof(call->detail), "%s",
                 timed_out ? "database did not answer in time, retry later"
                           : "database connection lost, retry later");
        return conn_ok && res;
    }
    call->rc = NA_STORE_UNAVAILABLE;
    if (!strcmp(state, "57014")) {
        snprintf(call->detail, sizeof(call->detail), "database statement timed out, retry later");
    } else if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3) || !strncmp(state, "53", 2)) {
        /* Connection exceptions, shutdown or restart, out of resources. */
        snprintf(call->detail, sizeof(call->detail), "database unavailable, retry later");
    } else if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03")) {
        snprintf(call->detail, sizeof(call->detail), "database conflict, retry");
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
