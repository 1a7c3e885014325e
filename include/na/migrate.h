/*
 * migrate: the database schema, created and upgraded idempotently.
 *
 * Versions are applied in order inside one transaction that first takes a
 * transaction-scoped advisory lock, so any number of tasks starting at once
 * (or running `node-api migrate`) serialize: the first applies what is
 * missing, the others find nothing left to do. Applied versions are
 * recorded in node_api_schema.
 *
 *   1  items (id bigint identity, name text of 1..200 bytes, price
 *      numeric(14,2) >= 0, created_at, updated_at)
 *   2  the tutorial's three widgets, only into an empty table
 *   3  idempotency_keys (scope, key, fingerprint, status, item, expires_at)
 */
#ifndef NA_MIGRATE_H
#define NA_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

#include "na/config.h"

/* The version this build brings the schema to. */
int na_migrate_latest(void);

/*
 * Migrates over `conn` (each statement bounded by `timeout_ms`). Returns 0
 * and the versions before and after, or -1 with `err`.
 */
int na_migrate(PGconn *conn, unsigned timeout_ms, int *from, int *to, char *err, size_t errlen);

/*
 * `node-api migrate`: connects to DATABASE_URL and migrates, logging what
 * it did. Returns the exit status: 0 done, 1 failed, 2 no DATABASE_URL.
 */
int na_migrate_command(const struct na_config *cfg);

#endif
