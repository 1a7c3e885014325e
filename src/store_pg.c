/*
 * store_pg: items in PostgreSQL, through the worker pool (see
 * include/na/store.h and include/na/pgpool.h).
 *
 * Each connection is readied once: the schema is migrated (unless
 * DB_MIGRATE=off) until one connection has done it, then the statements are
 * prepared. Every call is one statement in autocommit, so an answer of
 * success always means committed. Prices travel as numeric text, never as
 * floating point.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "na/clock.h"
#include "na/config.h"
#include "na/item.h"
#include "na/log.h"
#include "na/migrate.h"
#include "na/pg.h"
#include "na/pgpool.h"
#include "na/store.h"

struct pg_store {
    struct na_store base;
    const struct na_config *cfg;
    struct na_pgpool *pool;
    atomic_bool schema_ready;
};

#define COLUMNS "id, name, price::text"

static const struct {
    const char *name, *sql;
} statements[] = {
    {"na_list", "SELECT " COLUMNS " FROM items ORDER BY id LIMIT $1 OFFSET $2"},
    {"na_get", "SELECT " COLUMNS " FROM items WHERE id = $1"},
    {"na_create", "INSERT INTO items (name, price) VALUES ($1, $2::numeric) RETURNING " COLUMNS},
    {"na_update", "UPDATE items SET name = $2, price = $3::numeric, updated_at = now()"
                  " WHERE id = $1 RETURNING " COLUMNS},
    {"na_delete", "DELETE FROM items WHERE id = $1"},
};

static struct pg_store *from(struct na_store *s)
{
    return (struct pg_store *)s;
}

/* Readies a new connection: the schema (once), then the prepared statements. */
static int setup(struct pg_store *ps, PGconn *conn, char *err, size_t errlen)
{
    unsigned timeout = ps->cfg->db_statement_timeout_ms + 1000;
    char sql[512];

    if (ps->cfg->db_migrate && !atomic_load(&ps->schema_ready)) {
        int before, after;

        if (na_migrate(conn, timeout, &before, &after, err, errlen))
            return -1;
        if (after != before)
            na_logf(NA_LOG_INFO, "database schema migrated", NA_LF_INT("from_version", before),
                    NA_LF_INT("to_version", after));
        atomic_store(&ps->schema_ready, true);
    }
    for (size_t i = 0; i < sizeof(statements) / sizeof(statements[0]); i++) {
        PGresult *res;
        bool timed_out;

        snprintf(sql, sizeof(sql), "PREPARE %s AS %s", statements[i].name, statements[i].sql);
        res = na_pg_exec(conn, NULL, sql, 0, NULL, na_clock_after_ms(timeout), &timed_out);
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
            snprintf(err, errlen, "preparing statements: %s",
                     res ? PQresultErrorMessage(res) : "no answer");
            err[strcspn(err, "\n")] = '\0';
            PQclear(res);
            return -1;
        }
        PQclear(res);
    }
    return 0;
}

static void *open_conn(void *cls, const atomic_bool *stop, char *err, size_t errlen)
{
    struct pg_store *ps = cls;
    struct na_pg_options o = {
        .conninfo = ps->cfg->database_url,
        .connect_timeout_s = ps->cfg->db_connect_timeout_s,
        .statement_timeout_ms = ps->cfg->db_statement_timeout_ms,
        .stop = stop,
    };
    PGconn *conn = na_pg_connect(&o, err, errlen);

    if (conn && setup(ps, conn, err, errlen)) {
        PQfinish(conn);
        conn = NULL;
    }
    return conn;
}

static void close_conn(void *conn, void *cls)
{
    (void)cls;
    PQfinish(conn);
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

static void read_rows(const PGresult *res, struct na_store_call *call)
{
    int n = PQntuples(res);

    if (call->op == NA_STORE_LIST) {
        if (n && !(call->items = malloc((size_t)n * sizeof(*call->items)))) {
            call->rc = NA_STORE_NOMEM;
            return;
        }
        for (int i = 0; i < n; i++) {
            if (read_item(res, i, &call->items[i]))
                goto bad_row;
        }
        call->count = (size_t)n;
        return;
    }
    if (!n) {
        call->rc = NA_STORE_NOT_FOUND;
        snprintf(call->detail, sizeof(call->detail), "item %" PRId64 " not found", call->id);
        return;
    }
    if (!read_item(res, 0, &call->result))
        return;
bad_row:
    free(call->items);
    call->items = NULL;
    call->rc = NA_STORE_ERROR;
    snprintf(call->detail, sizeof(call->detail), "database returned an item out of range");
}

static bool run(void *handle, struct na_store_call *call, void *cls)
{
    struct pg_store *ps = cls;
    PGconn *conn = handle;
    char id[24], a[32], b[32], price[32];
    const char *params[3];
    const char *stmt = NULL, *sql = NULL;
    unsigned ms = call->deadline_ms ? call->deadline_ms : ps->cfg->db_statement_timeout_ms + 1000;
    uint64_t t0 = na_clock_ns();
    int nparams = 0;
    PGresult *res;
    bool timed_out, ok;
    ExecStatusType st;

    snprintf(id, sizeof(id), "%" PRId64, call->id);
    snprintf(price, sizeof(price), "%" PRId64 ".%02" PRId64, call->item.price_cents / 100,
             call->item.price_cents % 100);
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
        params[0] = id;
        nparams = 1;
        break;
    case NA_STORE_CREATE:
        stmt = "na_create";
        params[0] = call->item.name;
        params[1] = price;
        nparams = 2;
        break;
    case NA_STORE_UPDATE:
        stmt = "na_update";
        params[0] = id;
        params[1] = call->item.name;
        params[2] = price;
        nparams = 3;
        break;
    }
    res = na_pg_exec(conn, stmt, sql, nparams, params, na_clock_after_ms(ms), &timed_out);
    st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    call->latency_ms = na_clock_ms_since(t0);
    if (st == PGRES_TUPLES_OK) {
        if (call->op != NA_STORE_PING)
            read_rows(res, call);
        ok = true;
    } else if (st == PGRES_COMMAND_OK) {
        /* DELETE: one row gone, or none there. */
        if (strcmp(PQcmdTuples(res), "1")) {
            call->rc = NA_STORE_NOT_FOUND;
            snprintf(call->detail, sizeof(call->detail), "item %" PRId64 " not found", call->id);
        }
        ok = true;
    } else {
        ok = na_pg_classify(conn, res, timed_out, call);
        if (call->rc == NA_STORE_ERROR)
            na_logf(NA_LOG_ERROR, "database error", NA_LF_STR("op", na_store_op_name(call->op)),
                    NA_LF_STR("sqlstate", res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL),
                    NA_LF_STR("error", res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
                                           : PQerrorMessage(conn)));
    }
    PQclear(res);
    return ok;
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
}

static uint64_t pg_generation(struct na_store *s)
{
    (void)s;
    return 0; /* other tasks write too: never cache */
}

static void pg_shutdown(struct na_store *s)
{
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

struct na_store *na_store_pg_new(const struct na_config *cfg)
{
    struct pg_store *ps = calloc(1, sizeof(*ps));
    struct na_pgpool_config pc = {
        .size = cfg->db_pool_size,
        .acquire_timeout_ms = cfg->db_acquire_timeout_ms,
        .health_timeout_ms = cfg->db_health_timeout_ms,
        .open = open_conn,
        .run = run,
        .close = close_conn,
    };

    if (!ps)
        return NULL;
    ps->cfg = cfg;
    atomic_init(&ps->schema_ready, false);
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
