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

int na_budget_plan(const struct na_budget_input *in, struct na_budget *out, const char **bad_var,
                   char *msg, size_t msglen)
{
    struct na_budget b = {
        .limit_bytes = in->limit_bytes,
        .fixed_bytes = NA_FIXED_BYTES,
        .per_connection_bytes = NA_CONN_POOL_BYTES + NA_CONN_OVERHEAD_BYTES,
    };
    uint64_t fd_cap = in->nofile > NA_FD_RESERVE ? in->nofile - NA_FD_RESERVE : 0;
    uint64_t conns;

    if (!in->limit_bytes) {
        b.body_pool_bytes = max_u64(NA_DEFAULT_BODY_POOL, 4 * in->max_body_bytes);
        conns = in->max_connections ? in->max_connections : NA_DEFAULT_MAX_CONNECTIONS;
        if (!in->max_connections && conns > fd_cap)
            conns = fd_cap;
    } else {
        uint64_t usable = in->limit_bytes / 100 * NA_PLAN_PERCENT;
        uint64_t room;

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
        room = usable > b.fixed_bytes + b.body_pool_bytes
                   ? usable - b.fixed_bytes - b.body_pool_bytes
                   : 0;
        if (room / b.per_connection_bytes < 16) {
            *bad_var = "MEMORY_LIMIT_MB";
            snprintf(msg, msglen,
                     "%" PRIu64 " MiB leaves no room for connections: at least %" PRIu64
                     " MiB usable are needed",
                     in->limit_bytes / NA_MIB,
                     (b.fixed_bytes + b.body_pool_bytes + 16 * b.per_connection_bytes) / NA_MIB +
                         1);
            return -1;
        }
        if (in->max_connections) {
            conns = in->max_connections;
            if (conns > room / b.per_connection_bytes) {
                *bad_var = "MAX_CONNECTIONS";
                snprintf(msg, msglen,
                         "%" PRIu64 " connections need %" PRIu64 " MiB, over the %" PRIu64
                         " MiB that MEMORY_LIMIT_MB leaves for them "
                         "(at most %" PRIu64 ")",
                         conns, conns * b.per_connection_bytes / NA_MIB, room / NA_MIB,
                         room / b.per_connection_bytes);
                return -1;
            }
        } else {
            conns = room / b.per_connection_bytes;
            if (conns > fd_cap)
                conns = fd_cap;
        }
    }
    if (in->max_connections && conns > fd_cap) {
        *bad_var = "MAX_CONNECTIONS";
        snprintf(msg, msglen,
                 "%" PRIu64 " connections need more descriptors than RLIMIT_NOFILE allows (%" PRIu64
                 "; raise the nofile ulimit)",
                 conns, in->nofile);
        return -1;
    }
    if (!conns) {
        *bad_var = "MAX_CONNECTIONS";
        snprintf(msg, msglen, "RLIMIT_NOFILE (%" PRIu64 ") leaves no descriptors for connections",
                 in->nofile);
        return -1;
    }
    b.max_connections = (unsigned)conns;
    b.worst_case_bytes = b.fixed_bytes + conns * b.per_connection_bytes + b.body_pool_bytes;
    *out = b;
    return 0;
}
