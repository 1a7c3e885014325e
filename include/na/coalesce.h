/*
 * coalesce: identical concurrent reads share one trip to a blocking store.
 *
 * A store wrapped here forwards writes as they are, and groups reads (LIST
 * with the same limit and offset, GET of the same id): per key, at most one
 * query runs and one batch waits. A read that arrives while a query for its
 * key runs joins the waiting batch, which starts when that query ends; so
 * every answer comes from a query that started after the read arrived, and
 * a client that wrote and then reads sees its write, as without the
 * wrapper. Under load on a hot key, the database does one query per query
 * time instead of one per request.
 */
#ifndef NA_COALESCE_H
#define NA_COALESCE_H

#include "na/store.h"

/*
 * Wraps `inner` (taking ownership: freeing the wrapper frees it). Returns
 * NULL if out of memory, leaving `inner` to the caller.
 */
struct na_store *na_coalesce_new(struct na_store *inner);

#endif
