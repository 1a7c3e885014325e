/*
 * budget: memory plan arithmetic (see include/na/budget.h).
 */
#include "na/budget.h"

#include <inttypes.h>
#include <stdio.h>

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

static uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Refusals in flight: a share of the plan (all of NA_REFUSE_MAX without a limit). */
static unsigned refusals_for(uint64_t usable)
{
    if (!usable)
        return NA_REFUSE_MAX;
    return (unsigned)clamp_u64(usable / 100 * NA_REFUSE_PERCENT / NA_REFUSAL_BYTES, NA_REFUSE_MIN,
                               NA_REFUSE_MAX);
}

int na_budget_plan(const struct na_budget_input *in, struct na_budget *out, const char **bad_var,
                   char *msg, size_t msglen)
{
    struct na_budget b = {
        .limit_bytes = in->limit_bytes,
        .fixed_bytes = NA_FIXED_BYTES + in->store_bytes,
        .per_connection_bytes = NA_CONN_POOL_BYTES + NA_CONN_OVERHEAD_BYTES + NA_CONN_SOCKET_BYTES +
                                NA_RESPONSE_SMALL_BYTES,
    };
    uint64_t usable = in->limit_bytes / 100 * NA_PLAN_PERCENT;
    uint64_t fd_cap = in->nofile > NA_FD_RESERVE ? in->nofile - NA_FD_RESERVE : 0;
    uint64_t conns;

    /* Refusals take descriptors too: at most half of them, the rest for connections. */
    b.refuse_max = refusals_for(usable);
    if (b.refuse_max > fd_cap / 2)
        b.refuse_max = (unsigned)(fd_cap / 2);
    fd_cap -= b.refuse_max;
    if (!in->limit_bytes) {
        b.body_pool_bytes = max_u64(NA_DEFAULT_BODY_POOL, 4 * in->max_body_bytes);
        b.response_pool_bytes = NA_DEFAULT_RESPONSE_POOL;
        conns = in->max_connections ? in->max_connections : NA_DEFAULT_MAX_CONNECTIONS;
        if (!in->max_connections && conns > fd_cap)
            conns = fd_cap;
    } else {
        uint64_t pools, room, fit;

        b.plan_bytes = usable;
        b.shed_bytes = in->limit_bytes / 100 * in->shed_percent;
        if (in->max_body_bytes > usable / 2) {
            *bad_var = "MAX_BODY_BYTES";
            snprintf(msg, msglen,
                     "%" PRIu64 " bytes is over half of the usable memory (%" PRIu64
                     " MiB of MEMORY_LIMIT_MB)",
                     in->max_body_bytes, usable / NA_MIB);
            return -1;
        }
        b.body_pool_bytes = max_u64(in->max_body_bytes, usable / 4);
        b.response_pool_bytes = max_u64(NA_MIB, usable / 8);
        pools = b.fixed_bytes + b.body_pool_bytes + b.response_pool_bytes +
                (uint64_t)b.refuse_max * NA_REFUSAL_BYTES;
        room = usable > pools ? usable - pools : 0;
        fit = room / b.per_connection_bytes;
        if (fit < 16) {
            uint64_t need = (pools + 16 * b.per_connection_bytes) / NA_MIB + 1;

            /* The store's caps are at fault when, without them, it would fit. */
            if (in->store_var && usable > pools - in->store_bytes &&
                (usable - (pools - in->store_bytes)) / b.per_connection_bytes >= 16) {
                *bad_var = in->store_var;
                snprintf(msg, msglen,
                         "makes the embedded store take up to %" PRIu64
                         " MiB, which leaves no room for connections in MEMORY_LIMIT_MB (%" PRIu64
                         " MiB; %" PRIu64 " needed): lower it, or raise the limit",
                         in->store_bytes / NA_MIB, in->limit_bytes / NA_MIB, need);
            } else {
                *bad_var = "MEMORY_LIMIT_MB";
                snprintf(msg, msglen,
                         "%" PRIu64 " MiB leaves no room for connections: at least %" PRIu64
                         " MiB usable are needed",
                         in->limit_bytes / NA_MIB, need);
            }
            return -1;
        }
        if (in->max_connections) {
            conns = in->max_connections;
            if (conns > fit) {
                *bad_var = "MAX_CONNECTIONS";
                snprintf(msg, msglen,
                         "%" PRIu64 " connections need %" PRIu64 " MiB, over the %" PRIu64
                         " MiB that MEMORY_LIMIT_MB leaves for them "
                         "(at most %" PRIu64 ")",
                         conns, conns * b.per_connection_bytes / NA_MIB, room / NA_MIB, fit);
                return -1;
            }
        } else {
            conns = fit < fd_cap ? fit : fd_cap;
        }
    }
    if (in->max_connections && conns > fd_cap) {
        *bad_var = "MAX_CONNECTIONS";
        snprintf(msg, msglen,
                 "%" PRIu64 " connections, and the %u refused over them, need more descriptors "
                 "than RLIMIT_NOFILE allows (%" PRIu64 "; raise the nofile ulimit)",
                 conns, b.refuse_max, in->nofile);
        return -1;
    }
    if (!conns) {
        *bad_var = "MAX_CONNECTIONS";
        snprintf(msg, msglen, "RLIMIT_NOFILE (%" PRIu64 ") leaves no descriptors for connections",
                 in->nofile);
        return -1;
    }
    b.max_connections = (unsigned)conns;
    b.worst_case_bytes = b.fixed_bytes + conns * b.per_connection_bytes + b.body_pool_bytes +
                         b.response_pool_bytes + (uint64_t)b.refuse_max * NA_REFUSAL_BYTES;
    *out = b;
    return 0;
}
