/*
 * budget: the memory plan, derived once at start from MEMORY_LIMIT_MB.
 *
 * Worst-case memory is bounded by construction:
 *
 *     worst_case = fixed + max_connections * per_connection + body_pool
 *
 * where per_connection covers libmicrohttpd's per-connection memory pool
 * (which also caps header and URL size) plus its bookkeeping and ours, and
 * body_pool caps the request bytes buffered across all connections at once.
 * With a memory limit the plan keeps worst_case within NA_PLAN_PERCENT of
 * it. Shedding is the safety net for what the plan cannot see (allocator
 * fragmentation, kernel socket buffers, libraries): when RSS passes
 * MEMORY_SHED_PERCENT of the limit, new requests get 503 instead of growing
 * the process into an OOM kill. Without a limit the figures are fixed
 * defaults and nothing is shed.
 */
#ifndef NA_BUDGET_H
#define NA_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#define NA_MIB (UINT64_C(1) << 20)

/*
 * libmicrohttpd's per-connection pool. It holds the request head, a record
 * per header field, and the response headers being built: too small, and a
 * request that fits is closed without an answer. 32 KiB holds a head of
 * NA_HEAD_MAX (16 KiB, Node's limit) in NA_HEADERS_MAX fields with room
 * for our largest response header block (framing.h refuses anything larger
 * before the pool can overflow). It is cleared for every request: smaller
 * would be faster.
 */
#define NA_CONN_POOL_BYTES (32u * 1024u)
/* Connection bookkeeping in libmicrohttpd and here, plus kernel socket state. */
#define NA_CONN_OVERHEAD_BYTES (16u * 1024u)
/* Code, libraries, thread stacks in use, log ring, allocator slack. */
#define NA_FIXED_BYTES (16 * NA_MIB)
/* Descriptors kept free for the listener, logs, and the future database pool. */
#define NA_FD_RESERVE 64u
/* Share of the limit the plan may use; the rest is headroom. */
#define NA_PLAN_PERCENT 90u
/* Defaults when nothing limits memory. */
#define NA_DEFAULT_MAX_CONNECTIONS 10000u
#define NA_DEFAULT_BODY_POOL       (64 * NA_MIB)

struct na_budget_input {
    uint64_t limit_bytes;     /* 0: no memory limit */
    unsigned shed_percent;    /* 1..100 */
    unsigned max_connections; /* 0: derive */
    uint64_t max_body_bytes;
    uint64_t nofile; /* descriptors available */
};

struct na_budget {
    uint64_t limit_bytes; /* 0: none */
    uint64_t plan_bytes;  /* NA_PLAN_PERCENT of the limit; 0: no limit */
    uint64_t shed_bytes;  /* RSS above this sheds load; 0: never */
    uint64_t fixed_bytes;
    uint64_t per_connection_bytes;
    uint64_t body_pool_bytes;
    uint64_t worst_case_bytes;
    unsigned max_connections;
};

/*
 * Plans the budget. Returns 0 and fills *out, or -1 with *bad_var set to
 * the configuration variable at fault and `msg` saying why.
 */
int na_budget_plan(const struct na_budget_input *in, struct na_budget *out, const char **bad_var,
                   char *msg, size_t msglen);

#endif
