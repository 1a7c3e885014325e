/*
 * accesslog: one JSON line per finished request.
 *
 * Fields: method, path, status, duration_ms, bytes, request_id, trace_id
 * (32 hex digits from traceparent or the ALB's X-Amzn-Trace-Id root, see
 * trace.h), amzn_trace_id (the ALB's header as it came), client (first hop
 * of X-Forwarded-For, else the peer address) and user_agent, after the
 * common log fields, and fault_status and fault_delay_ms when a fault was
 * injected (fault.h). Requests
 * answered 5xx, or cut off before their answer was sent, are logged at
 * level "error" and never sampled away; the rest at "info", subject to
 * ACCESS_LOG's ratio. The query string is not logged: it may carry secrets.
 */
#ifndef NA_ACCESSLOG_H
#define NA_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct na_access_entry {
    const char *method;
    const char *path;
    unsigned status; /* 0: no answer was queued */
    double duration_ms;
    uint64_t bytes;          /* body bytes answered */
    const char *request_id;  /* may be NULL */
    const char *trace_id;    /* 32 hex digits; may be NULL */
    const char *amzn_trace;  /* X-Amzn-Trace-Id as it came; may be NULL */
    const char *forwarded;   /* X-Forwarded-For, may be NULL */
    const char *peer;        /* the socket's peer address */
    const char *user_agent;  /* may be NULL */
    bool aborted;            /* the connection ended before the answer was sent */
    unsigned fault_status;   /* an injected status (fault.h); 0: none */
    unsigned fault_delay_ms; /* an injected delay; 0: none */
    bool fault_delay_cut;    /* ended early: the client left, or the server stopped */
};

/* Decides, per request, whether a line is written for it at `ratio`. */
bool na_access_sampled(double ratio);

/* True when `e` is logged whatever the ratio (5xx, aborted). */
bool na_access_always(const struct na_access_entry *e);

/*
 * The client address: the first hop of an X-Forwarded-For list, trimmed,
 * or `peer` when there is none. Sets *len and returns a borrowed pointer.
 */
const char *na_access_client(const char *forwarded, const char *peer, size_t *len);

void na_access_log(const struct na_access_entry *e);

#endif
