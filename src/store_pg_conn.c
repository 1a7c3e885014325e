/*
 * store_pg_conn: the PostgreSQL store's connections (see store_pg_conn.h):
 * the statements they prepare, and opening, readying and closing them.
 */
#include "store_pg_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "na/clock.h"
#include "na/log.h"
#include "na/migrate.h"
#include "na/pg.h"

#define COLUMNS "id, name, price::text"

struct statement {
    const char *name, *sql;
};

static const struct statement statements[] = {
    {"na_list", "SELECT " COLUMNS " FROM items ORDER BY id LIMIT $1 OFFSET $2"},
    {"na_get", "SELECT " COLUMNS " FROM items WHERE id = $1"},
    {"na_create", "INSERT INTO items (name, price) VALUES ($1, $2::numeric) RETURNING " COLUMNS},
    /*
     * A write group (see run_group() in store_pg.c): $1 the names, $2 the
     * prices, one row per write, in one statement, so statement_timeout
     * bounds the group as it bounds one write. Each row is made as a write
     * alone makes it (the column's default, the table's triggers), and the
     * rows come back in the arrays' order: INSERT ... SELECT ... ORDER BY
     * inserts in that order and returns each row as it inserts it. Were a
     * row missing (a trigger that skipped it), that order would say nothing:
     * the last branch then fails the statement, so nothing is written and
     * each write runs alone.
     */
    {"na_create_group",
     "WITH ins AS (INSERT INTO items (name, price)"
     " SELECT n, p FROM unnest($1::text[], $2::numeric[]) WITH ORDINALITY AS t(n, p, o)"
     " ORDER BY o RETURNING " COLUMNS ")"
     " SELECT * FROM ins UNION ALL"
     " SELECT NULL, NULL, CAST('write group: ' || (SELECT count(*) FROM ins) || ' rows for '"
     " || cardinality($1::text[]) || ' writes' AS integer)::text"
     " WHERE (SELECT count(*) FROM ins) <> cardinality($1::text[])"},
    {"na_update", "UPDATE items SET name = $2, price = $3::numeric, updated_at = now()"
                  " WHERE id = $1 RETURNING " COLUMNS},
    {"na_delete", "DELETE FROM items WHERE id = $1"},
};

/*
 * Keyed writes: $1 scope, $2 key, $3 fingerprint, then the write's own
 * parameters, then the TTL in seconds. `prior` is the key's live record;
 * the write and the new record happen only without one. The record of an
 * expired key is replaced (ON CONFLICT): the advisory lock the transaction
 * holds keeps every other writer of the key out. Rows: id, name, price,
 * replayed, status, fingerprint; none for a new 404.
 */
#define PRIOR                                                                                      \
    "WITH prior AS (SELECT item_id, item_name, item_price::text AS item_price, status, "           \
    "fingerprint"                                                                                  \
    " FROM idempotency_keys WHERE scope = $1 AND key = $2 AND expires_at > clock_timestamp())"
#define RECORD                                                                                     \
    "INSERT INTO idempotency_keys (scope, key, fingerprint, status, item_id, item_name,"           \
    " item_price, expires_at) "
#define REPLACE                                                                                    \
    " ON CONFLICT (scope, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,"                  \
    " status = EXCLUDED.status, item_id = EXCLUDED.item_id, item_name = EXCLUDED.item_name,"       \
    " item_price = EXCLUDED.item_price, created_at = now(), expires_at = EXCLUDED.expires_at"
#define REPLAY                                                                                     \
    " UNION ALL SELECT item_id, item_name, item_price, true, status, fingerprint FROM prior"
/* From the write itself, not from the start of its transaction (now()), which may have waited. */
#define EXPIRES(n) "clock_timestamp() + $" #n "::integer * interval '1 second'"

static const struct statement keyed_statements[] = {
    {"na_key_lock", "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))"},
    {"na_key_create",
     PRIOR ", w AS (INSERT INTO items (name, price) SELECT $4, $5::numeric"
           " WHERE NOT EXISTS (SELECT 1 FROM prior) RETURNING id, name, price),"
           " rec AS (" RECORD "SELECT $1, $2, $3, 201, id, name, price, " EXPIRES(
               6) " FROM w" REPLACE ")"
                  " SELECT id, name, price::text, false, 201, NULL::text FROM w" REPLAY},
    {"na_key_update",
     PRIOR ", w AS (UPDATE items SET name = $5, price = $6::numeric, updated_at = now()"
           " WHERE id = $4 AND NOT EXISTS (SELECT 1 FROM prior) RETURNING id, name, price),"
           " rec AS (" RECORD "SELECT $1, $2, $3, CASE WHEN w.id IS NULL THEN 404 ELSE 200 END,"
           " w.id, w.name, w.price, " EXPIRES(
               7) " FROM (SELECT 1) one LEFT JOIN w ON true WHERE NOT EXISTS (SELECT 1 FROM "
                  "prior)" REPLACE
                  ") SELECT id, name, price::text, false, 200, NULL::text FROM w" REPLAY},
    {"na_key_delete",
     PRIOR ", w AS (DELETE FROM items WHERE id = $4 AND NOT EXISTS (SELECT 1 FROM prior)"
           " RETURNING id),"
           " rec AS (" RECORD "SELECT $1, $2, $3, CASE WHEN w.id IS NULL THEN 404 ELSE 204 END,"
           " NULL::bigint, NULL::text, NULL::numeric, " EXPIRES(
               5) " FROM (SELECT 1) one LEFT JOIN w ON true WHERE NOT EXISTS (SELECT 1 FROM "
                  "prior)" REPLACE
                  ") SELECT id, NULL::text, NULL::text, false, 204, NULL::text FROM w" REPLAY},
    /* Expired records, a batch at a time; rows another task is purging are skipped. */
    {"na_key_purge", "DELETE FROM idempotency_keys WHERE (scope, key) IN (SELECT scope, key"
                     " FROM idempotency_keys WHERE expires_at <= clock_timestamp() LIMIT 1000"
                     " FOR UPDATE SKIP LOCKED)"},
};

/* Prepares a set of statements; 0, or -1 with `err` and the SQLSTATE of the failure. */
static int prepare(PGconn *pg, const struct statement *set, size_t n, unsigned timeout, char *err,
                   size_t errlen, char state[6])
{
    char sql[4096];

    for (size_t i = 0; i < n; i++) {
        struct na_pg_fate fate;
        PGresult *res;

        snprintf(sql, sizeof(sql), "PREPARE %s AS %s", set[i].name, set[i].sql);
        res = na_pg_exec(pg, NULL, sql, 0, NULL, na_clock_after_ms(timeout), &fate);
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
            const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

            if (s && !strcmp(s, "42P05")) { /* prepared by an earlier, partial attempt */
                PQclear(res);
                continue;
            }

            snprintf(state, 6, "%s", s ? s : "");
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

/* Readies a new connection: the schema (once), then the prepared statements. */
static int setup(const struct na_config *cfg, atomic_bool *schema_ready, struct na_pg_conn *c,
                 char *err, size_t errlen)
{
    unsigned timeout = cfg->db_statement_timeout_ms + 1000;
    size_t nplain = sizeof(statements) / sizeof(statements[0]);
    size_t nkeyed = sizeof(keyed_statements) / sizeof(keyed_statements[0]);
    char state[6];

    if (cfg->db_migrate && !atomic_load(schema_ready)) {
        int before, after;

        if (na_migrate(c->pg, timeout, &before, &after, err, errlen))
            return -1;
        if (after != before)
            na_logf(NA_LOG_INFO, "database schema migrated", NA_LF_INT("from_version", before),
                    NA_LF_INT("to_version", after));
        atomic_store(schema_ready, true);
    }
    if (prepare(c->pg, statements, nplain, timeout, err, errlen, state))
        return -1;
    /*
     * A schema older than this build (DB_MIGRATE=off before `node-api
     * migrate` ran) still serves everything but keyed writes, which answer
     * 503 until it is migrated: better than no database at all.
     */
    c->keys_ready = !prepare(c->pg, keyed_statements, nkeyed, timeout, err, errlen, state);
    if (!c->keys_ready && strcmp(state, "42P01"))
        return -1;
    return 0;
}

bool na_pg_conn_keys_ready(struct na_pg_conn *c, const struct na_config *cfg)
{
    if (!c->keys_ready) {
        /* Perhaps `node-api migrate` has run since: look again (one round trip, only here). */
        char err[256], state[6];

        c->keys_ready = !prepare(c->pg, keyed_statements,
                                 sizeof(keyed_statements) / sizeof(keyed_statements[0]),
                                 cfg->db_statement_timeout_ms + 1000, err, sizeof(err), state);
    }
    return c->keys_ready;
}

void na_pg_conn_close(struct na_pg_conn *c)
{
    if (!c)
        return;
    PQfinish(c->pg);
    free(c);
}

struct na_pg_conn *na_pg_conn_open(const struct na_config *cfg, atomic_bool *schema_ready,
                                   const atomic_bool *stop, char *err, size_t errlen)
{
    struct na_pg_options o = {
        .conninfo = cfg->database_url,
        .connect_timeout_s = cfg->db_connect_timeout_s,
        .statement_timeout_ms = cfg->db_statement_timeout_ms,
        .stop = stop,
    };
    struct na_pg_conn *c = calloc(1, sizeof(*c));

    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->pg = na_pg_connect(&o, err, errlen);
    if (!c->pg || setup(cfg, schema_ready, c, err, errlen)) {
        na_pg_conn_close(c);
        return NULL;
    }
    return c;
}
