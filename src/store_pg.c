/*
 * store_pg: items in PostgreSQL, through the worker pool (see
 * include/na/store.h and include/na/pgpool.h).
 *
 * Each connection is readied once (see store_pg_conn.h). A write without an Idempotency-Key is one
 * statement in autocommit; one with a key is a transaction that takes the key's advisory lock, then
 * writes the item and the key's record in one statement, then commits (see run_keyed()). Either way
 * an answer of success always means committed, and no answer after the commit was sent is reported
 * as unknown, never as "retry". Prices travel as numeric text, never as floating point.
 *
 * Plain creates that queue for a connection together go as a group (see
 * run_group()): still one INSERT each, answered each by its own result,
 * but in one transaction sent in one round trip, so PostgreSQL flushes its
 * WAL once for all of them.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "na/clock.h"
#include "na/config.h"
#include "na/item.h"
#include "na/log.h"
#include "na/pg.h"
#include "na/pgpool.h"
#include "na/store.h"
#include "store_pg_conn.h"

/* The parameters of a write, as text. */
struct write_params {
    char id[24], price[32], ttl[16];
};

struct pg_store {
    struct na_store base;
    const struct na_config *cfg;
    struct na_pgpool *pool;
    atomic_bool schema_ready;
    atomic_bool stopping; /* the shutdown began: refused groups are not run again */
};

#define PURGE_BATCH 1000
/*
 * How long plain creates may be held for the group running ahead of them
 * (see include/na/pgpool.h): a group here takes 1 to 4 ms (the write
 * benchmark's p99 is under 4 ms), on RDS a round trip and a commit more;
 * one stuck behind a lock delays the writes behind it by this at most.
 */
#define WRITE_HOLD_MS 10

static struct pg_store *from(struct na_store *s)
{
    return (struct pg_store *)s;
}

static void close_conn(void *handle, void *cls)
{
    (void)cls;
    na_pg_conn_close(handle);
}

static void *open_conn(void *cls, const atomic_bool *stop, char *err, size_t errlen)
{
    struct pg_store *ps = cls;

    return na_pg_conn_open(ps->cfg, &ps->schema_ready, stop, err, errlen);
}

/* Reads row `i` of an id, name, price result. */
static int read_item(const PGresult *res, int i, struct na_item *out)
{
    const char *name = PQgetvalue(res, i, 1);
    size_t n = strlen(name);

    if (n > NA_ITEM_NAME_MAX || na_price_from_text(PQgetvalue(res, i, 2), &out->price_cents))
        return -1;
    out->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
    memcpy(out->name, name, n + 1);
    return 0;
}

static void not_found(struct na_store_call *call)
{
    call->rc = NA_STORE_NOT_FOUND;
    snprintf(call->detail, sizeof(call->detail), "item %" PRId64 " not found", call->id);
}

static void bad_row(struct na_store_call *call)
{
    free(call->items);
    call->items = NULL;
    call->rc = NA_STORE_ERROR;
    snprintf(call->detail, sizeof(call->detail), "database returned an item out of range");
}

static void read_rows(const PGresult *res, struct na_store_call *call)
{
    int n = PQntuples(res);

    if (call->op == NA_STORE_LIST) {
        if (n && !(call->items = malloc((size_t)n * sizeof(*call->items)))) {
            call->rc = NA_STORE_NOMEM;
            return;
        }
        for (int i = 0; i < n; i++) {
            if (read_item(res, i, &call->items[i])) {
                bad_row(call);
                return;
            }
        }
        call->count = (size_t)n;
        return;
    }
    if (!n)
        not_found(call);
    else if (read_item(res, 0, &call->result))
        bad_row(call);
}

static void write_params(const struct na_store_call *call, struct write_params *w)
{
    snprintf(w->id, sizeof(w->id), "%" PRId64, call->id);
    snprintf(w->price, sizeof(w->price), "%" PRId64 ".%02" PRId64, call->item.price_cents / 100,
             call->item.price_cents % 100);
    snprintf(w->ttl, sizeof(w->ttl), "%u", call->idem.ttl_s);
}

static void log_error(PGconn *pg, const PGresult *res, const struct na_store_call *call)
{
    na_logf(NA_LOG_ERROR, "database error", NA_LF_STR("op", na_store_op_name(call->op)),
            NA_LF_STR("sqlstate", res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL),
            NA_LF_STR("error",
                      res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : PQerrorMessage(pg)));
}

/*
 * Runs one statement of a call, classifying a failure into the call.
 * Returns the result on success (PGRES_TUPLES_OK or COMMAND_OK), else NULL
 * with *keep saying whether the connection is still good.
 */
static PGresult *step(PGconn *pg, const char *stmt, const char *sql, int nparams,
                      const char *const *params, uint64_t deadline, bool commits,
                      struct na_store_call *call, bool *keep)
{
    struct na_pg_fate fate;
    PGresult *res = na_pg_exec(pg, stmt, sql, nparams, params, deadline, &fate);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return res;
    *keep = na_pg_classify(pg, res, &fate, commits, call);
    if (call->rc == NA_STORE_ERROR)
        log_error(pg, res, call);
    PQclear(res);
    return NULL;
}

/* Reads the row of a keyed write: a new outcome, or the key's stored one. */
static void read_keyed(const PGresult *res, struct na_store_call *call)
{
    int status;

    if (!PQntuples(res)) {
        not_found(call); /* a new 404, recorded under the key */
        return;
    }
    call->replayed = PQgetvalue(res, 0, 3)[0] == 't';
    if (call->replayed && strcmp(PQgetvalue(res, 0, 5), call->idem.fingerprint)) {
        call->replayed = false;
        call->rc = NA_STORE_KEY_REUSED;
        return;
    }
    status = atoi(PQgetvalue(res, 0, 4));
    if (status == 404)
        not_found(call);
    else if (status != 204 && read_item(res, 0, &call->result))
        bad_row(call);
}

/*
 * A write under an Idempotency-Key: BEGIN; the key's advisory lock, tried,
 * not waited for (taken: another request with the key is running, 409);
 * the write with the key's record, or the stored outcome, in one statement
 * whose snapshot is taken after the lock, so it sees the record of any
 * earlier holder; COMMIT. Until COMMIT is sent, a failure leaves nothing
 * behind (the transaction rolls back, with the connection if need be);
 * without an answer to COMMIT, the outcome is unknown, and a retry with
 * the same key tells.
 */
static bool run_keyed(struct pg_store *ps, struct na_pg_conn *c, struct na_store_call *call,
                      uint64_t deadline)
{
    static const char *const names[] = {
        [NA_STORE_CREATE] = "na_key_create",
        [NA_STORE_UPDATE] = "na_key_update",
        [NA_STORE_DELETE] = "na_key_delete",
    };
    struct write_params w;
    const char *params[7] = {call->idem.scope, call->idem.key, call->idem.fingerprint};
    char lock[NA_IDEM_HEX + NA_IDEM_KEY_MAX + 2];
    const char *lock_param[1] = {lock};
    int nparams = 3;
    bool keep = true, taken;
    PGresult *res;

    if (!na_pg_conn_keys_ready(c, ps->cfg)) {
        call->rc = NA_STORE_UNAVAILABLE;
        snprintf(call->detail, sizeof(call->detail),
                 "database schema too old for Idempotency-Key: run node-api migrate");
        return true;
    }
    write_params(call, &w);
    if (call->op != NA_STORE_CREATE)
        params[nparams++] = w.id;
    if (call->op != NA_STORE_DELETE) {
        params[nparams++] = call->item.name;
        params[nparams++] = w.price;
    }
    params[nparams++] = w.ttl;
    snprintf(lock, sizeof(lock), "%s %s", call->idem.scope, call->idem.key);

    res = step(c->pg, NULL, "BEGIN", 0, NULL, deadline, false, call, &keep);
    if (!res)
        return keep;
    PQclear(res);
    res = step(c->pg, "na_key_lock", NULL, 1, lock_param, deadline, false, call, &keep);
    if (!res)
        goto rollback;
    taken = PQgetvalue(res, 0, 0)[0] != 't';
    PQclear(res);
    if (taken) {
        call->rc = NA_STORE_KEY_BUSY;
        goto rollback;
    }
    res = step(c->pg, names[call->op], NULL, nparams, params, deadline, false, call, &keep);
    if (!res)
        goto rollback;
    read_keyed(res, call);
    PQclear(res);
    if (call->replayed || call->rc == NA_STORE_KEY_REUSED)
        goto rollback; /* nothing was written */
    res = step(c->pg, NULL, "COMMIT", 0, NULL, deadline, true, call, &keep);
    if (!res) {
        call->replayed = false;
        return keep;
    }
    PQclear(res);
    /* Committed; the backend may have ended right after (see na_pg_exec()). */
    return PQstatus(c->pg) == CONNECTION_OK;
rollback:
    if (keep) {
        struct na_pg_fate fate;

        res = na_pg_exec(c->pg, NULL, "ROLLBACK", 0, NULL, deadline, &fate);
        keep = res && PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
    }
    return keep;
}

/* A connection the server closed while it sat in the pool is replaced before use. */
static bool usable(void *handle, void *cls)
{
    struct na_pg_conn *c = handle;

    (void)cls;
    return !na_pg_closed(c->pg);
}

static bool run(void *handle, struct na_store_call *call, void *cls)
{
    struct pg_store *ps = cls;
    struct na_pg_conn *c = handle;
    struct write_params w;
    const char *params[3];
    const char *stmt = NULL, *sql = NULL;
    unsigned ms = call->deadline_ms ? call->deadline_ms : ps->cfg->db_statement_timeout_ms + 1000;
    uint64_t t0 = na_clock_ns(), deadline = na_clock_after_ms(ms);
    bool is_write =
        call->op == NA_STORE_CREATE || call->op == NA_STORE_UPDATE || call->op == NA_STORE_DELETE;
    bool keep = true;
    int nparams = 0;
    PGresult *res;
    char a[32], b[32];

    if (is_write && call->idem.key[0]) {
        keep = run_keyed(ps, c, call, deadline);
        call->latency_ms = na_clock_ms_since(t0);
        return keep;
    }
    write_params(call, &w);
    switch (call->op) {
    case NA_STORE_PING:
        sql = "SELECT 1";
        break;
    case NA_STORE_LIST:
        snprintf(a, sizeof(a), "%zu", call->limit);
        snprintf(b, sizeof(b), "%zu", call->offset);
        stmt = "na_list";
        params[0] = a;
        params[1] = b;
        nparams = 2;
        break;
    case NA_STORE_GET:
    case NA_STORE_DELETE:
        stmt = call->op == NA_STORE_GET ? "na_get" : "na_delete";
        params[0] = w.id;
        nparams = 1;
        break;
    case NA_STORE_CREATE:
        stmt = "na_create";
        params[0] = call->item.name;
        params[1] = w.price;
        nparams = 2;
        break;
    case NA_STORE_UPDATE:
        stmt = "na_update";
        params[0] = w.id;
        params[1] = call->item.name;
        params[2] = w.price;
        nparams = 3;
        break;
    }
    /* An autocommit write commits with its statement: no answer, no knowing. */
    res = step(c->pg, stmt, sql, nparams, params, deadline, is_write, call, &keep);
    call->latency_ms = na_clock_ms_since(t0);
    if (!res)
        return keep;
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        if (call->op != NA_STORE_PING)
            read_rows(res, call);
    } else if (strcmp(PQcmdTuples(res), "1")) {
        not_found(call); /* DELETE: none there */
    }
    PQclear(res);
    return true;
}

/* Plain creates may share a commit: a keyed write is a transaction of its own. */
static bool groupable(const struct na_store_call *call, void *cls)
{
    (void)cls;
    return call->op == NA_STORE_CREATE && !call->idem.key[0];
}

/* Appends `s` to `p` as a quoted element of an array literal; returns the end. */
static char *array_element(char *p, const char *s)
{
    *p++ = '"';
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            *p++ = '\\';
        *p++ = *s;
    }
    *p++ = '"';
    return p;
}

/*
 * Writes the names and the prices of a group as two array literals into
 * one allocation (caller frees *names). -1 if out of memory.
 */
static int group_arrays(struct na_store_call *calls, char **names, char **prices)
{
    size_t size = 4; /* the braces of each */
    char *p, *q;

    for (struct na_store_call *call = calls; call; call = call->next)
        size += 2 * strlen(call->item.name) + 3 + sizeof(((struct write_params *)0)->price) + 3;
    if (!(p = malloc(size)))
        return -1;
    *names = p;
    *p++ = '{';
    for (struct na_store_call *call = calls; call; call = call->next)
        p = array_element(p, call->item.name), *p++ = ',';
    p[-1] = '}';
    *p++ = '\0';
    *prices = q = p;
    *q++ = '{';
    for (struct na_store_call *call = calls; call; call = call->next) {
        struct write_params w;

        write_params(call, &w);
        q = array_element(q, w.price);
        *q++ = ',';
    }
    q[-1] = '}';
    *q = '\0';
    return 0;
}

/*
 * Gives each call of a committed group its row: one per write, in the
 * order of the arrays (the statement fails rather than return fewer).
 */
static void read_group(const PGresult *res, struct na_store_call *calls)
{
    int r = 0;

    for (struct na_store_call *call = calls; call; call = call->next, r++) {
        if (r >= PQntuples(res) || PQgetisnull(res, r, 0)) {
            call->rc = NA_STORE_ERROR;
            snprintf(call->detail, sizeof(call->detail), "database returned no row for the write");
        } else if (read_item(res, r, &call->result)) {
            bad_row(call);
        }
    }
}

/*
 * A group of plain creates (see na_pgpool_config): one statement writes
 * the row of each (see na_create_group in store_pg_conn.c), in one round
 * trip and one commit, and
 * statement_timeout bounds it as it bounds a single write: the server
 * cancels a group that runs too long, so the client never gives up on one
 * that then commits. Written: each call reads its own row. Refused for its
 * data (a constraint, at the statement or at commit; a row a trigger
 * skipped): nothing was written,
 * and each runs again alone for the answer it would have had, those
 * starting before the group's deadline and before the shutdown (the rest
 * get 503): so a call waits at most twice a single write's time, and the
 * stop waits for one at most. Cancelled, timed out, unavailable:
 * each gets that answer (503, certainly not written), at once. No answer
 * after it was sent: each is unknown (504).
 */
static bool run_group(void *handle, struct na_store_call *calls, void *cls)
{
    struct pg_store *ps = cls;
    struct na_pg_conn *c = handle;
    struct na_store_call scratch = {.op = NA_STORE_CREATE};
    uint64_t t0 = na_clock_ns(), deadline = UINT64_MAX;
    const char *params[2];
    char *names = NULL, *prices = NULL;
    struct na_pg_fate fate;
    bool keep = true;
    PGresult *res = NULL;

    for (struct na_store_call *call = calls; call; call = call->next) {
        unsigned ms =
            call->deadline_ms ? call->deadline_ms : ps->cfg->db_statement_timeout_ms + 1000;
        uint64_t d = na_clock_after_ms(ms);

        assert(groupable(call, cls));
        deadline = d < deadline ? d : deadline;
    }
    if (group_arrays(calls, &names, &prices)) {
        scratch.rc = NA_STORE_NOMEM;
        goto out;
    }
    params[0] = names;
    params[1] = prices;
    res = na_pg_exec(c->pg, "na_create_group", NULL, 2, params, deadline, &fate);
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK) {
        read_group(res, calls);
        goto out;
    }
    /* An autocommit statement commits with its exchange: no answer, no knowing. */
    keep = na_pg_classify(c->pg, res, &fate, true, &scratch);
    if (scratch.rc == NA_STORE_ERROR)
        log_error(c->pg, res, &scratch);
    /*
     * Refused by the server for the data (CONFLICT and ERROR come only with
     * its SQLSTATE, which says nothing was written): run again. Anything
     * else is every member's answer, an unknown outcome (504) above all:
     * never run that again.
     */
    if (keep && (scratch.rc == NA_STORE_CONFLICT || scratch.rc == NA_STORE_ERROR)) {
        for (struct na_store_call *call = calls; call; call = call->next) {
            if (keep && na_clock_ns() < deadline && !atomic_load(&ps->stopping)) {
                keep = run(handle, call, cls);
            } else {
                call->rc = NA_STORE_UNAVAILABLE;
                snprintf(call->detail, sizeof(call->detail), "database busy, retry later");
            }
        }
        goto done;
    }
out:
    for (struct na_store_call *call = calls; call; call = call->next) {
        if (scratch.rc != NA_STORE_OK) {
            call->rc = scratch.rc;
            call->not_run = scratch.not_run;
            memcpy(call->detail, scratch.detail, sizeof(call->detail));
        }
        call->latency_ms = na_clock_ms_since(t0);
    }
done:
    PQclear(res);
    free(names);
    return keep;
}

/*
 * Between calls, the health lane's worker purges expired Idempotency-Keys
 * in batches of PURGE_BATCH, a slice of at most 100 ms at a time, so no
 * request waits on it: every `idle_ms`, and again 10 ms after a slice that
 * left work, so the purge keeps up with any number of keys (a batch takes
 * milliseconds). Lookups ignore expired keys anyway: the purge only gives
 * the space back.
 */
static bool purge(void *handle, void *cls, bool *more)
{
    struct pg_store *ps = cls;
    struct na_pg_conn *c = handle;
    uint64_t stop = na_clock_after_ms(100);
    struct na_store_call scratch = {.op = NA_STORE_DELETE};
    bool keep = true;

    if (!c->keys_ready)
        return true;
    while (keep && !*more) {
        PGresult *res = step(c->pg, "na_key_purge", NULL, 0, NULL,
                             na_clock_after_ms(ps->cfg->db_statement_timeout_ms + 1000), false,
                             &scratch, &keep);
        long n;

        if (!res)
            break;
        n = strtol(PQcmdTuples(res), NULL, 10);
        PQclear(res);
        if (n < PURGE_BATCH)
            break;
        *more = na_clock_ns() >= stop; /* a full batch: there may be more */
    }
    return keep;
}

static void pg_submit(struct na_store *s, struct na_store_call *call)
{
    na_pgpool_submit(from(s)->pool, call);
}

static void pg_health(struct na_store *s, struct na_store_health *out)
{
    struct na_pgpool_stats st;

    na_pgpool_stats(from(s)->pool, &st);
    memset(out, 0, sizeof(*out));
    out->backend = s->backend;
    out->items = -1;
    out->has_pool = true;
    out->pool_size = st.size;
    out->pool_connected = st.connected;
    out->pool_busy = st.busy;
    out->pool_waiting = st.waiting;
    out->pool_acquire_timeouts = st.acquire_timeouts;
    out->pool_reconnects = st.reconnects;
    out->pool_errors = st.errors;
    out->write_groups = st.groups;
    out->writes_grouped = st.grouped;
    out->writes_held = st.held;
    out->reruns = st.reruns;
}

static uint64_t pg_generation(struct na_store *s)
{
    (void)s;
    return 0; /* other tasks write too: never cache */
}

static void pg_shutdown(struct na_store *s)
{
    atomic_store(&from(s)->stopping, true);
    na_pgpool_shutdown(from(s)->pool);
}

static void pg_free(struct na_store *s)
{
    na_pgpool_free(from(s)->pool);
    free(s);
}

static const struct na_store_ops pg_ops = {
    .submit = pg_submit,
    .health = pg_health,
    .generation = pg_generation,
    .shutdown = pg_shutdown,
    .free = pg_free,
};

struct na_store *na_store_pg_new(const struct na_config *cfg, struct na_metrics *metrics)
{
    struct pg_store *ps = calloc(1, sizeof(*ps));
    unsigned half_ttl_ms = cfg->idempotency_ttl_s > 120 ? 60000 : cfg->idempotency_ttl_s * 500;
    struct na_pgpool_config pc = {
        .size = cfg->db_pool_size,
        .acquire_timeout_ms = cfg->db_acquire_timeout_ms,
        .health_timeout_ms = cfg->db_health_timeout_ms,
        .open = open_conn,
        .run = run,
        .usable = usable,
        .groupable = groupable,
        .run_group = run_group,
        .group_max = cfg->db_write_group_max,
        .hold_ms = WRITE_HOLD_MS,
        .close = close_conn,
        .idle = purge,
        /* A key is purged within about half its lifetime (a minute at most) of expiring. */
        .idle_ms = half_ttl_ms < 1000 ? 1000 : half_ttl_ms,
        .metrics = metrics,
    };

    if (!ps)
        return NULL;
    ps->cfg = cfg;
    atomic_init(&ps->schema_ready, false);
    atomic_init(&ps->stopping, false);
    ps->base.ops = &pg_ops;
    ps->base.backend = "postgres";
    ps->base.blocking = true;
    pc.cls = ps;
    ps->pool = na_pgpool_start(&pc);
    if (!ps->pool) {
        free(ps);
        return NULL;
    }
    return &ps->base;
}
