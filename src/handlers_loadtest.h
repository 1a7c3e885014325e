/*
 * handlers_loadtest.h: the load-testing routes and the injected faults,
 * for handlers.c alone (private to src/: the public contract is
 * include/na/handlers.h). Served only with ENABLE_LOADTEST_ROUTES=1: the
 * router matches none of these routes otherwise, and no fault is decided.
 */
#ifndef NA_HANDLERS_LOADTEST_H
#define NA_HANDLERS_LOADTEST_H

#include <stdbool.h>

#include "na/handlers.h"

/* True for the routes faults apply to: the API's (/api/...), never the health checks. */
bool na_loadtest_faultable(enum na_route route);

/*
 * Decides req->fault from FAULT_* and the request's X-Fault-* headers.
 * True when the request is answered now (400: a malformed header).
 */
bool na_loadtest_decide_fault(struct na_request *req);

/* Answers req->fault.status in place of the request. */
void na_loadtest_fault_reply(struct na_request *req);

/* na_handle_precheck() for the load-testing routes (API key, X-Echo-Headers). */
bool na_loadtest_precheck(struct na_request *req);

/* True for the load-testing routes that take a body (POST /api/echo). */
bool na_loadtest_takes_body(const struct na_request *req);

/* na_handle() for the load-testing routes. */
void na_loadtest_handle(struct na_request *req);

#endif
