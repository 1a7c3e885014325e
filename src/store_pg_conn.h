/*
 * store_pg_conn.h: a connection of the PostgreSQL store, for store_pg.c
 * alone (private to src/: the public contract is include/na/store.h).
 *
 * A connection is readied once, when opened: the schema is migrated
 * (unless DB_MIGRATE=off) until one connection has done it, then every
 * statement is prepared under its name: na_list, na_get, na_create,
 * na_create_group, na_update and na_delete; na_key_lock, na_key_create, na_key_update and
 * na_key_delete for writes under an Idempotency-Key; na_key_purge. A
 * connection is used by one pool worker thread at a time.
 */
#ifndef NA_STORE_PG_CONN_H
#define NA_STORE_PG_CONN_H

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "na/config.h"

struct na_pg_conn {
    PGconn *pg;
    bool keys_ready; /* the Idempotency-Key statements are prepared */
};

/*
 * Opens and readies a connection. `schema_ready`, shared by the store's
 * connections, turns true once one of them has migrated the schema; `stop`
 * turns true when the pool shuts down, and an attempt gives up then.
 * Returns the connection (close it with na_pg_conn_close()), or NULL with
 * the reason in `err` (never a secret). `cfg` is borrowed for the call.
 */
struct na_pg_conn *na_pg_conn_open(const struct na_config *cfg, atomic_bool *schema_ready,
                                   const atomic_bool *stop, char *err, size_t errlen);

/*
 * Whether the Idempotency-Key statements are prepared: a schema older than
 * this build has not their table. Tries once more to prepare them if not
 * (perhaps `node-api migrate` has run since): one round trip, only then.
 */
bool na_pg_conn_keys_ready(struct na_pg_conn *c, const struct na_config *cfg);

/* Closes and frees. NULL is a no-op. */
void na_pg_conn_close(struct na_pg_conn *c);

#endif
