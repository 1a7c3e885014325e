/*
 * store: what every store shares (see include/na/store.h).
 */
#include "na/store.h"

#include <string.h>

#include "na/clock.h"

void na_store_submit(struct na_store *s, struct na_store_call *call)
{
    call->rc = NA_STORE_OK;
    call->replayed = false;
    call->items = NULL;
    call->count = 0;
    call->latency_ms = 0;
    call->detail[0] = '\0';
    memset(&call->result, 0, sizeof(call->result));
    if (!call->arrived_ns)
        call->arrived_ns = na_clock_ns();
    s->ops->submit(s, call);
}

const char *na_store_op_name(enum na_store_op op)
{
    static const char *const names[] = {"list", "get", "create", "update", "delete", "ping"};

    return (unsigned)op < sizeof(names) / sizeof(names[0]) ? names[op] : "unknown";
}
