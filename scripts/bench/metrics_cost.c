/*
 * metrics_cost: what recording one request costs (na_metrics_request(), the
 * hot path's only metrics call), in ns, on one thread and on two at once
 * (each into its own shard). scripts/bench.py runs it beside the servers'
 * CPU time per request: the ratio is the metrics' share of a request, a
 * figure the throughput runs are too noisy to show at a percent or two.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "na/clock.h"
#include "na/metrics.h"

#define CALLS 20000000u

static struct na_metrics *m;

static void *record(void *arg)
{
    uint64_t *ns = arg, t0 = na_clock_ns();

    for (unsigned i = 0; i < CALLS; i++)
        na_metrics_request(m, (enum na_route)(1 + i % 5), i & 8 ? NA_METHOD_GET : NA_METHOD_POST,
                           i % 64 ? 200 : 404, (uint64_t)(i % 4096) * 977u);
    *ns = na_clock_ns() - t0;
    return NULL;
}

int main(void)
{
    uint64_t one, two[2];
    pthread_t t[2];

    m = na_metrics_new();
    if (!m)
        return 1;
    record(&one);
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, record, &two[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    printf("{\"ns_per_request\":%.2f,\"ns_per_request_two_threads\":%.2f}\n",
           (double)one / CALLS, (double)(two[0] + two[1]) / 2 / CALLS);
    na_metrics_free(m);
    return 0;
}
