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
 *
 * Waiting in a batch counts as waiting for a connection: a read's acquire
 * timeout runs from its own arrival (call->arrived_ns), whatever batch it
 * is in. A waiting batch's members whose timeout passed while the query
 * before them ran get 503 when it ends; the rest start with the earliest
 * arrival among them, so the inner store bounds every member's wait from
 * no later than its arrival.
 */
#ifndef NA_COALESCE_H
#define NA_COALESCE_H

#include "na/store.h"

/*
 * Wraps `inner` (taking ownership: freeing the wrapper frees it), whose
 * calls may wait `acquire_timeout_ms` for a connection. Returns NULL if out
 * of memory, leaving `inner` to the caller.
 */
struct na_store *na_coalesce_new(struct na_store *inner, unsigned acquire_timeout_ms);

#endif
