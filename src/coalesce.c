/*
 * coalesce: read batching in front of a blocking store (see
 * include/na/coalesce.h).
 */
#include "na/coalesce.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "na/clock.h"

struct coalesce;
struct entry;

/* Reads of one key that share one query. */
struct batch {
    struct na_store_call leader; /* what the inner store runs */
    struct na_store_call *members;
    struct na_store_call **tail;
    struct entry *entry;
    struct coalesce *owner;
};

/* A key with a batch running, and perhaps one waiting for it. */
struct entry {
    enum na_store_op op;
    int64_t id;
    size_t limit, offset;
    struct batch *running, *waiting;
    struct entry *next;
};

struct coalesce {
    struct na_store base;
    struct na_store *inner;
    uint64_t acquire_ns;
    pthread_mutex_t lock;
    struct entry *entries;        /* few at a time: one per hot key */
    unsigned long long coalesced; /* reads that joined a batch (the lock) */
};

static struct coalesce *from(struct na_store *s)
{
    return (struct coalesce *)s;
}

static bool same_key(const struct entry *e, const struct na_store_call *call)
{
    return e->op == call->op && e->id == call->id && e->limit == call->limit &&
           e->offset == call->offset;
}

static void leader_done(struct na_store_call *leader);

static struct batch *batch_new(struct coalesce *c, struct entry *e, struct na_store_call *first)
{
    struct batch *b = calloc(1, sizeof(*b));

    if (!b)
        return NULL;
    b->owner = c;
    b->entry = e;
    b->leader.op = first->op;
    b->leader.id = first->id;
    b->leader.limit = first->limit;
    b->leader.offset = first->offset;
    b->leader.deadline_ms = first->deadline_ms;
    b->leader.arrived_ns = first->arrived_ns;
    b->leader.done = leader_done;
    b->leader.cls = b;
    first->next = NULL;
    b->members = first;
    b->tail = &first->next;
    return b;
}

static void join(struct batch *b, struct na_store_call *call)
{
    call->next = NULL;
    *b->tail = call;
    b->tail = &call->next;
}

/* Hands the leader's result to every member, each with a copy it owns. */
static void fan_out(struct batch *b)
{
    const struct na_store_call *l = &b->leader;
    struct na_store_call *m = b->members;

    while (m) {
        struct na_store_call *next = m->next;

        m->next = NULL;
        m->rc = l->rc;
        m->result = l->result;
        m->latency_ms = l->latency_ms;
        memcpy(m->detail, l->detail, sizeof(m->detail));
        if (l->rc == NA_STORE_OK && l->count) {
            m->items = malloc(l->count * sizeof(*m->items));
            if (m->items) {
                memcpy(m->items, l->items, l->count * sizeof(*m->items));
                m->count = l->count;
            } else {
                m->rc = NA_STORE_NOMEM;
            }
        }
        m->done(m);
        m = next;
    }
    free(l->items);
}

/*
 * Takes off the head of the batch the members that waited for the running
 * query longer than they may wait for a connection (members join in order
 * of arrival). Returns them as a list; the leader then carries the
 * earliest arrival left, from which the inner store bounds its own wait.
 * Called with the lock held.
 */
static struct na_store_call *take_expired(struct coalesce *c, struct batch *b, uint64_t now)
{
    struct na_store_call *expired = NULL, **tail = &expired;

    while (b->members && b->members->arrived_ns + c->acquire_ns <= now) {
        struct na_store_call *m = b->members;

        b->members = m->next;
        m->next = NULL;
        *tail = m;
        tail = &m->next;
    }
    if (!b->members)
        b->tail = &b->members;
    else
        b->leader.arrived_ns = b->members->arrived_ns;
    return expired;
}

static void fail_expired(struct na_store_call *list)
{
    while (list) {
        struct na_store_call *next = list->next;

        list->next = NULL;
        list->rc = NA_STORE_UNAVAILABLE;
        snprintf(list->detail, sizeof(list->detail),
                 "no database connection free in time, retry later");
        list->done(list);
        list = next;
    }
}

/*
 * The running query of a key ended: its members get the answer, and the
 * batch that waited (if any) starts, a query that began after all of them
 * arrived. Its members' deadlines run from their own arrival: those whose
 * acquire timeout passed while the running query ran get 503 now.
 */
static void leader_done(struct na_store_call *leader)
{
    struct batch *b = leader->cls, *next;
    struct coalesce *c = b->owner;
    struct entry *e = b->entry;
    struct na_store_call *expired = NULL;

    pthread_mutex_lock(&c->lock);
    next = e->waiting;
    e->waiting = NULL;
    if (next) {
        expired = take_expired(c, next, na_clock_ns());
        if (!next->members) {
            free(next);
            next = NULL;
        }
    }
    e->running = next;
    if (!next) {
        struct entry **pp = &c->entries;

        while (*pp != e)
            pp = &(*pp)->next;
        *pp = e->next;
    }
    pthread_mutex_unlock(&c->lock);
    fan_out(b);
    free(b);
    fail_expired(expired);
    if (next)
        na_store_submit(c->inner, &next->leader);
    else
        free(e);
}

static void co_submit(struct na_store *s, struct na_store_call *call)
{
    struct coalesce *c = from(s);
    struct batch *start = NULL;
    struct entry *e;

    if (call->op != NA_STORE_LIST && call->op != NA_STORE_GET) {
        na_store_submit(c->inner, call);
        return;
    }
    pthread_mutex_lock(&c->lock);
    for (e = c->entries; e && !same_key(e, call); e = e->next)
        ;
    if (e && e->waiting) {
        join(e->waiting, call); /* starts after the running query: fresh */
        c->coalesced++;
    } else if (e) {
        e->waiting = batch_new(c, e, call);
        if (!e->waiting)
            goto nomem;
    } else {
        e = calloc(1, sizeof(*e));
        if (!e)
            goto nomem;
        e->op = call->op;
        e->id = call->id;
        e->limit = call->limit;
        e->offset = call->offset;
        start = e->running = batch_new(c, e, call);
        if (!start) {
            free(e);
            goto nomem;
        }
        e->next = c->entries;
        c->entries = e;
    }
    pthread_mutex_unlock(&c->lock);
    if (start)
        na_store_submit(c->inner, &start->leader);
    return;
nomem:
    pthread_mutex_unlock(&c->lock);
    call->rc = NA_STORE_NOMEM;
    call->done(call);
}

static void co_health(struct na_store *s, struct na_store_health *out)
{
    struct coalesce *c = from(s);

    na_store_health(c->inner, out);
    out->backend = s->backend;
    pthread_mutex_lock(&c->lock);
    out->coalesced = c->coalesced;
    pthread_mutex_unlock(&c->lock);
}

static uint64_t co_generation(struct na_store *s)
{
    return na_store_generation(from(s)->inner);
}

static void co_shutdown(struct na_store *s)
{
    /* Running batches end inside the inner shutdown; waiting ones start and fail there. */
    na_store_shutdown(from(s)->inner);
}

static void co_free(struct na_store *s)
{
    struct coalesce *c = from(s);

    na_store_free(c->inner);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static const struct na_store_ops coalesce_ops = {
    .submit = co_submit,
    .health = co_health,
    .generation = co_generation,
    .shutdown = co_shutdown,
    .free = co_free,
};

struct na_store *na_coalesce_new(struct na_store *inner, unsigned acquire_timeout_ms)
{
    struct coalesce *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->inner = inner;
    c->acquire_ns = (uint64_t)acquire_timeout_ms * 1000000u;
    pthread_mutex_init(&c->lock, NULL);
    c->base.ops = &coalesce_ops;
    c->base.backend = inner->backend;
    c->base.blocking = inner->blocking;
    return &c->base;
}
