/*
 * resolve: bounded name lookups on detached threads (see
 * include/na/resolve.h).
 *
 * The caller and the lookup thread share one block, reference-counted:
 * whoever lets go last frees it, so a caller that gave up never waits and
 * a thread that finishes late never writes into freed memory.
 */
#include "na/resolve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "na/clock.h"

#define SLICE_MS 100u /* how often a waiting caller looks at its stop flag */

struct lookup {
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    atomic_int refs; /* the caller's and the thread's */
    bool done;
    int rc;                /* getaddrinfo's */
    struct addrinfo *list; /* the thread's result, freed with the block */
    na_getaddrinfo_fn fn;
    char name[256];
};

static void lookup_unref(struct lookup *l)
{
    if (atomic_fetch_sub(&l->refs, 1) != 1)
        return;
    if (l->list)
        freeaddrinfo(l->list);
    pthread_cond_destroy(&l->done_cond);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

static void *lookup_main(void *arg)
{
    struct lookup *l = arg;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *list = NULL;
    int rc = l->fn(l->name, NULL, &hints, &list);

    pthread_mutex_lock(&l->lock);
    l->rc = rc;
    l->list = rc ? NULL : list;
    l->done = true;
    pthread_cond_signal(&l->done_cond);
    pthread_mutex_unlock(&l->lock);
    lookup_unref(l);
    return NULL;
}

/* Copies up to NA_RESOLVE_MAX distinct addresses as text. */
static size_t copy_addrs(const struct addrinfo *list, char addrs[][NA_RESOLVE_ADDR_MAX])
{
    size_t n = 0;

    for (const struct addrinfo *ai = list; ai && n < NA_RESOLVE_MAX; ai = ai->ai_next) {
        const void *a;
        bool seen = false;

        if (ai->ai_family == AF_INET)
            a = &((const struct sockaddr_in *)ai->ai_addr)->sin_addr;
        else if (ai->ai_family == AF_INET6)
            a = &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
        else
            continue;
        if (!inet_ntop(ai->ai_family, a, addrs[n], NA_RESOLVE_ADDR_MAX))
            continue;
        for (size_t k = 0; k < n && !seen; k++)
            seen = !strcmp(addrs[k], addrs[n]);
        if (!seen)
            n++;
    }
    return n;
}

int na_resolve(const char *name, unsigned timeout_ms, const atomic_bool *stop,
               na_getaddrinfo_fn lookup, char addrs[][NA_RESOLVE_ADDR_MAX], size_t *n, char *err,
               size_t errlen)
{
    uint64_t deadline = na_clock_after_ms(timeout_ms);
    char found[NA_RESOLVE_MAX][NA_RESOLVE_ADDR_MAX];
    size_t got = 0;
    pthread_condattr_t ca;
    pthread_attr_t ta;
    pthread_t thread;
    struct lookup *l;
    int rc = -1;

    if (strlen(name) >= sizeof(l->name)) {
        snprintf(err, errlen, "host name too long");
        return -1;
    }
    l = calloc(1, sizeof(*l));
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(l->name, sizeof(l->name), "%s", name);
    l->fn = lookup ? lookup : getaddrinfo;
    atomic_init(&l->refs, 2);
    pthread_mutex_init(&l->lock, NULL);
    if (pthread_condattr_init(&ca) || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) ||
        pthread_cond_init(&l->done_cond, &ca) || pthread_attr_init(&ta)) {
        pthread_mutex_destroy(&l->lock);
        free(l);
        snprintf(err, errlen, "cannot start a lookup");
        return -1;
    }
    pthread_condattr_destroy(&ca);
    pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&thread, &ta, lookup_main, l)) {
        pthread_attr_destroy(&ta);
        atomic_store(&l->refs, 1);
        lookup_unref(l);
        snprintf(err, errlen, "cannot start a lookup thread");
        return -1;
    }
    pthread_attr_destroy(&ta);

    pthread_mutex_lock(&l->lock);
    while (!l->done) {
        uint64_t now = na_clock_ns(), until = now + SLICE_MS * 1000000ull;
        struct timespec ts;

        if (now >= deadline || (stop && atomic_load(stop)))
            break;
        ts = na_clock_timespec(until < deadline ? until : deadline);
        pthread_cond_timedwait(&l->done_cond, &l->lock, &ts);
    }
    if (!l->done)
        snprintf(err, errlen, "%s", stop && atomic_load(stop) ? "stopping" : "timed out");
    else if (l->rc)
        snprintf(err, errlen, "%s", gai_strerror(l->rc));
    else if (!(got = copy_addrs(l->list, found)))
        snprintf(err, errlen, "no IPv4 or IPv6 address");
    else
        rc = 0;
    pthread_mutex_unlock(&l->lock);
    if (!rc) {
        memcpy(addrs, found, got * sizeof(found[0]));
        *n = got;
    }
    lookup_unref(l);
    return rc;
}
