/*
 * budget: the memory plan, derived once at start from MEMORY_LIMIT_MB.
 *
 * Worst-case memory is bounded by construction:
 *
 *     worst_case = fixed + max_connections * per_connection + body_pool
 *                  + response_pool + refuse_max * per_refusal
 *
 * per_connection covers libmicrohttpd's per-connection pool (which also
 * caps the request head), its bookkeeping and ours, the kernel's socket
 * buffers (bounded on every connection, and charged to the container on
 * cgroup v2), and a small answer; body_pool caps the request bytes
 * buffered across all connections at once, and response_pool the answers
 * built and not yet sent (a slow reader of a 1,000-item page holds one);
 * refusals are the connections over the limit being answered 503. `fixed`
 * is the code, libraries and thread stacks, and the embedded store's
 * items and keys at their configured caps.
 *
 * With a memory limit the plan keeps worst_case within NA_PLAN_PERCENT of
 * it. Shedding is the safety net for what the plan cannot see (allocator
 * fragmentation, libraries): when the memory the container is charged
 * passes MEMORY_SHED_PERCENT of the limit, new requests get 503 instead of
 * growing the process into an OOM kill. Without a limit the figures are
 * fixed defaults and nothing is shed.
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
/* Connection bookkeeping in libmicrohttpd and here (our context is 3 KiB), and the kernel's. */
#define NA_CONN_OVERHEAD_BYTES (8u * 1024u)
/*
 * Socket buffers set on every connection. The kernel doubles what is asked
 * (its own bookkeeping) and may hold that much each way: a client that
 * pipelines without reading, or reads slowly, costs at most this.
 */
#define NA_SOCK_SNDBUF       (16u * 1024u)
#define NA_SOCK_RCVBUF       (16u * 1024u)
#define NA_CONN_SOCKET_BYTES (2u * (NA_SOCK_SNDBUF + NA_SOCK_RCVBUF))
/* Answers up to this size are the connection's own; larger ones draw on the response pool. */
#define NA_RESPONSE_SMALL_BYTES (4u * 1024u)
/*
 * A connection refused over the limit: what the kernel may hold of what it
 * sent (the listener reads and drops it; our answer is a few hundred
 * bytes), and its state.
 */
#define NA_REFUSAL_BYTES (2u * NA_SOCK_RCVBUF + 2048u)
/* Refusals in flight at most; at least; and the share of the plan they may use. */
#define NA_REFUSE_MAX     4096u
#define NA_REFUSE_MIN     64u
#define NA_REFUSE_PERCENT 5u
/* Code, libraries, thread stacks in use, log ring, allocator slack. */
#define NA_FIXED_BYTES (16 * NA_MIB)
/* Descriptors kept free for logs, the database pool, the listener. */
#define NA_FD_RESERVE 64u
/* Share of the limit the plan may use; the rest is headroom. */
#define NA_PLAN_PERCENT 90u
/* Defaults when nothing limits memory. */
#define NA_DEFAULT_MAX_CONNECTIONS 10000u
#define NA_DEFAULT_BODY_POOL       (64 * NA_MIB)
#define NA_DEFAULT_RESPONSE_POOL   (32 * NA_MIB)

struct na_budget_input {
    uint64_t limit_bytes;     /* 0: no memory limit */
    unsigned shed_percent;    /* 1..100 */
    unsigned max_connections; /* 0: derive */
    uint64_t max_body_bytes;
    uint64_t store_bytes;  /* the embedded store at its caps; 0 with PostgreSQL */
    const char *store_var; /* the variable that sets most of them, for errors */
    uint64_t nofile;       /* descriptors available */
};

struct na_budget {
    uint64_t limit_bytes; /* 0: none */
    uint64_t plan_bytes;  /* NA_PLAN_PERCENT of the limit; 0: no limit */
    uint64_t shed_bytes;  /* charged memory above this sheds load; 0: never */
    uint64_t fixed_bytes; /* NA_FIXED_BYTES and the store */
    uint64_t per_connection_bytes;
    uint64_t body_pool_bytes;
    uint64_t response_pool_bytes;
    uint64_t worst_case_bytes;
    unsigned max_connections;
    unsigned refuse_max; /* connections over the limit answered at once */
};

/*
 * Plans the budget. Returns 0 and fills *out, or -1 with *bad_var set to
 * the configuration variable at fault and `msg` saying why.
 */
int na_budget_plan(const struct na_budget_input *in, struct na_budget *out, const char **bad_var,
                   char *msg, size_t msglen);

#endif
