/*
 * pgpool: worker threads, call queues and the supervisor (see
 * include/na/pgpool.h).
 */
#include "na/pgpool.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "na/clock.h"
#include "na/log.h"
#include "na/metrics.h"

struct lane {
    struct na_store_call *head, *tail;
    unsigned waiting, waiting_groupable;
    unsigned connected, busy;
    unsigned running_groupable; /* groups and lone groupable calls running */
    unsigned long long holds;   /* groupable calls held when they came */
    unsigned long long reruns;  /* calls queued again after their connection ended */
    unsigned acquire_ms;
    unsigned long long timeouts; /* calls that found no worker within acquire_ms */
    pthread_cond_t work;         /* a call was queued, or stop */
};

struct worker {
    struct na_pgpool *pool;
    struct lane *lane;
    pthread_t thread;
    bool started;
    uint64_t groupable_since; /* when its groupable call started; 0: none running */
    bool ever_connected;      /* its next connection is a reconnect (the worker's own) */
    unsigned seed;            /* for rand_r: the backoff's jitter */
};

struct na_pgpool {
    struct na_pgpool_config cfg;
    pthread_mutex_t lock;    /* guards everything below but `stop` */
    pthread_cond_t tick;     /* wakes the supervisor: a new deadline, or stop */
    pthread_cond_t stopping; /* wakes napping workers: only the shutdown */
    struct lane items, health;
    struct worker *workers;
    unsigned nworkers;
    pthread_t supervisor;
    bool supervisor_started;
    bool down_logged; /* "database unavailable" said, "connected" not yet */
    bool ever_connected;
    bool shut;
    unsigned long long reconnects;      /* item connections opened again after one was lost */
    unsigned long long errors;          /* item calls that failed on their connection */
    unsigned long long groups, grouped; /* write groups run, and the calls in them */
    atomic_bool stop;
};

static struct lane *lane_for(struct na_pgpool *p, const struct na_store_call *call)
{
    return call->op == NA_STORE_PING ? &p->health : &p->items;
}

/*
 * Queues in order of arrival, the order calls are run and expire in. Calls
 * nearly always arrive last; a coalesced batch carries its first member's
 * older arrival and goes ahead of the calls that came after it.
 */
static void push(struct lane *l, struct na_store_call *call)
{
    struct na_store_call **pp = &l->head;

    call->next = NULL;
    if (l->tail && l->tail->arrived_ns <= call->arrived_ns)
        pp = &l->tail->next;
    else
        while (*pp && (*pp)->arrived_ns <= call->arrived_ns)
            pp = &(*pp)->next;
    call->next = *pp;
    *pp = call;
    if (!call->next)
        l->tail = call;
    l->waiting++;
    l->waiting_groupable += call->groupable;
}

/* Unlinks the call at *pp, whose predecessor is `prev` (NULL at the head). */
static struct na_store_call *unlink_at(struct lane *l, struct na_store_call **pp,
                                       struct na_store_call *prev)
{
    struct na_store_call *call = *pp;

    *pp = call->next;
    if (l->tail == call)
        l->tail = prev;
    l->waiting--;
    l->waiting_groupable -= call->groupable;
    call->next = NULL;
    return call;
}

static struct na_store_call *pop(struct lane *l)
{
    return l->head ? unlink_at(l, &l->head, NULL) : NULL;
}

/* Pops the first call that is not groupable (the lane has one). */
static struct na_store_call *pop_ungroupable(struct lane *l)
{
    struct na_store_call **pp = &l->head, *prev = NULL;

    assert(l->waiting > l->waiting_groupable);
    while ((*pp)->groupable) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    return unlink_at(l, pp, prev);
}

/* With the lock held: when the youngest groupable call running on `l` started; 0: none. */
static uint64_t youngest_running(const struct na_pgpool *p, const struct lane *l)
{
    uint64_t since = 0;

    if (!l->running_groupable)
        return 0;
    for (unsigned i = 0; i < p->nworkers; i++)
        if (p->workers[i].lane == l && p->workers[i].groupable_since > since)
            since = p->workers[i].groupable_since;
    return since;
}

/*
 * With the lock held: when the hold of the groupable calls queued on `l`
 * ends (see the header): at the latest hold_ms after the first came, and
 * as the youngest group running grows older than that (one stuck behind a
 * lock holds nothing). 0: they are not held.
 */
static uint64_t hold_ends(const struct na_pgpool *p, const struct lane *l)
{
    uint64_t hold_ns = (uint64_t)p->cfg.hold_ms * 1000000u, since;

    if (!hold_ns || !l->head || !l->head->groupable || l->waiting_groupable >= p->cfg.group_max ||
        !(since = youngest_running(p, l)))
        return 0;
    return (since < l->head->arrived_ns ? since : l->head->arrived_ns) + hold_ns;
}

/* With the lock held: whether the groupable calls queued on `l` are held, as of `now`. */
static bool held(const struct na_pgpool *p, const struct lane *l, uint64_t now)
{
    return now < hold_ends(p, l);
}

/*
 * With the lock held: whether a free worker has a call to take on `l`. One
 * whose groupable call just ended (`wrote`) takes the held calls: they were
 * held for it.
 */
static bool takeable(const struct na_pgpool *p, const struct lane *l, uint64_t now, bool wrote)
{
    return l->head && (wrote || l->waiting > l->waiting_groupable || !held(p, l, now));
}

/* Finishes a list of calls as unavailable, outside the lock. */
static void fail_all(struct na_store_call *list, const char *detail)
{
    while (list) {
        struct na_store_call *next = list->next;

        list->rc = NA_STORE_UNAVAILABLE;
        snprintf(list->detail, sizeof(list->detail), "%s", detail);
        list->done(list);
        list = next;
    }
}

void na_pgpool_submit(struct na_pgpool *p, struct na_store_call *call)
{
    struct lane *l = lane_for(p, call);

    pthread_mutex_lock(&p->lock);
    if (p->shut) {
        pthread_mutex_unlock(&p->lock);
        call->next = NULL;
        fail_all(call, "server shutting down");
        return;
    }
    call->groupable = l == &p->items && p->cfg.run_group && p->cfg.group_max > 1 &&
                      p->cfg.groupable(call, p->cfg.cls);
    push(l, call);
    /* A held call wakes no worker: the supervisor does, if the hold runs out. */
    if (takeable(p, l, na_clock_ns(), false))
        pthread_cond_signal(&l->work);
    else
        l->holds++;
    if (l->head == call)
        pthread_cond_signal(&p->tick); /* the supervisor has a new first deadline */
    pthread_mutex_unlock(&p->lock);
}

/*
 * With the lock held, after `first` was popped: links the groupable calls
 * queued right behind it onto it, up to group_max in all. Returns how many
 * calls `first` now heads.
 */
static unsigned take_group(struct na_pgpool *p, struct lane *l, struct na_store_call *first)
{
    struct na_store_call *last = first;
    unsigned n = 1;

    if (!first->groupable)
        return 1;
    while (n < p->cfg.group_max && l->head && l->head->groupable) {
        last->next = pop(l);
        last = last->next;
        n++;
    }
    return n;
}

/*
 * With the lock held, after a run that lost its connection: queues again,
 * ahead of the calls that came after them, the calls of `list` that
 * certainly did not run (call->not_run: a backend ended under them, by a
 * failover or an operator), NA_PGPOOL_RERUNS times at most and only before
 * their acquire deadline, so a call's wait stays within the bounds it had.
 * Returns the rest, to finish.
 */
static struct na_store_call *requeue(struct na_pgpool *p, struct lane *l,
                                     struct na_store_call *list)
{
    struct na_store_call *rest = NULL, **tail = &rest;
    uint64_t now = na_clock_ns();

    while (list) {
        struct na_store_call *c = list;

        list = c->next;
        if (c->not_run && !p->shut && c->reruns < NA_PGPOOL_RERUNS &&
            now < c->arrived_ns + (uint64_t)l->acquire_ms * 1000000u) {
            c->reruns++;
            l->reruns++;
            c->rc = NA_STORE_OK; /* as it came: only a failure sets an outcome */
            c->detail[0] = '\0';
            push(l, c);
            if (l->head == c)
                pthread_cond_signal(&p->tick); /* a new first deadline */
            pthread_cond_signal(&l->work);
        } else {
            c->next = NULL;
            *tail = c;
            tail = &c->next;
        }
    }
    return rest;
}

/*
 * With the lock held and takeable(): pops what the worker takes, setting
 * *n to how many calls it heads. Held calls stay (but for `wrote`).
 */
static struct na_store_call *take(struct na_pgpool *p, struct lane *l, bool wrote, unsigned *n)
{
    struct na_store_call *call;

    if (!wrote && held(p, l, na_clock_ns())) {
        *n = 1;
        return pop_ungroupable(l);
    }
    call = pop(l);
    *n = take_group(p, l, call);
    /* A groupable call left first has a hold of its own to end: the supervisor's to time. */
    if (p->cfg.hold_ms && l->head && l->head->groupable)
        pthread_cond_signal(&p->tick);
    return call;
}

/* Logs the pool's transitions between reachable and not. Called unlocked. */
static void note_connect(struct na_pgpool *p, bool ok, const char *err)
{
    bool say_up = false, say_down = false;

    pthread_mutex_lock(&p->lock);
    if (ok) {
        say_up = p->down_logged || !p->ever_connected;
        p->down_logged = false;
        p->ever_connected = true;
    } else if (!p->down_logged) {
        /*
         * The first failed attempt tells: idle connections that have not
         * noticed the outage yet would keep "all connections failed" from
         * ever being true.
         */
        say_down = true;
        p->down_logged = true;
    }
    pthread_mutex_unlock(&p->lock);
    if (say_up)
        na_log(NA_LOG_INFO, "database connected");
    if (say_down)
        na_logf(NA_LOG_WARN, "database unavailable: retrying in the background",
                NA_LF_STR("error", err));
}

/*
 * Sleeps `ms` unless stopping; returns false when stopping. The wait is
 * the workers' own: submits signal other conditions, so traffic cannot cut
 * a backoff short.
 */
static bool nap(struct na_pgpool *p, unsigned ms)
{
    struct timespec ts = na_clock_timespec(na_clock_after_ms(ms));

    pthread_mutex_lock(&p->lock);
    while (!atomic_load(&p->stop) &&
           pthread_cond_timedwait(&p->stopping, &p->lock, &ts) != ETIMEDOUT)
        ; /* spurious wakeups go back to sleep */
    pthread_mutex_unlock(&p->lock);
    return !atomic_load(&p->stop);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct na_pgpool *p = w->pool;
    struct lane *l = w->lane;
    unsigned backoff = p->cfg.backoff_min_ms;
    bool housekeeps = l == &p->health && p->cfg.idle && p->cfg.idle_ms;
    uint64_t next_idle = na_clock_after_ms(p->cfg.idle_ms);
    bool wrote = false; /* the last call run was groupable */
    void *conn = NULL;
    char err[256];

    while (!atomic_load(&p->stop)) {
        struct na_store_call *call;
        unsigned n;
        bool keep;

        if (!conn) {
            err[0] = '\0';
            conn = p->cfg.open(p->cfg.cls, &p->stop, err, sizeof(err));
            if (!conn && atomic_load(&p->stop))
                break; /* given up for the shutdown: not an outage to report */
            if (!conn) {
                note_connect(p, false, err);
                /* Jitter spreads the reconnects of many tasks and workers. */
                if (!nap(p, backoff / 2 + (unsigned)rand_r(&w->seed) % (backoff / 2 + 1)))
                    break;
                backoff = backoff * 2 > p->cfg.backoff_max_ms ? p->cfg.backoff_max_ms : backoff * 2;
                continue;
            }
            backoff = p->cfg.backoff_min_ms;
            pthread_mutex_lock(&p->lock);
            l->connected++;
            if (w->ever_connected && l == &p->items)
                p->reconnects++;
            pthread_mutex_unlock(&p->lock);
            w->ever_connected = true;
            note_connect(p, true, NULL);
        }
        pthread_mutex_lock(&p->lock);
        while (!takeable(p, l, na_clock_ns(), wrote) && !atomic_load(&p->stop)) {
            wrote = false; /* what comes while it waits was not held for it */
            if (!housekeeps) {
                pthread_cond_wait(&l->work, &p->lock);
            } else {
                struct timespec ts = na_clock_timespec(next_idle);

                if (pthread_cond_timedwait(&l->work, &p->lock, &ts) == ETIMEDOUT)
                    break;
            }
        }
        if (l->head && p->cfg.usable && !atomic_load(&p->stop)) {
            bool usable;

            /* Outside the lock (a read of the socket): the calls wait meanwhile. */
            pthread_mutex_unlock(&p->lock);
            usable = p->cfg.usable(conn, p->cfg.cls);
            pthread_mutex_lock(&p->lock);
            if (!usable) {
                l->connected--;
                pthread_cond_signal(&l->work); /* another connected worker may take them */
                pthread_mutex_unlock(&p->lock);
                p->cfg.close(conn, p->cfg.cls);
                conn = NULL;
                continue;
            }
            if (!takeable(p, l, na_clock_ns(), wrote)) {
                pthread_mutex_unlock(&p->lock);
                continue; /* another worker took them meanwhile */
            }
        }
        call = atomic_load(&p->stop) || !l->head ? NULL : take(p, l, wrote, &n);
        if (call) {
            l->busy++;
            l->running_groupable += call->groupable;
            if (call->groupable)
                w->groupable_since = na_clock_ns();
        }
        wrote = false;
        pthread_mutex_unlock(&p->lock);
        if (atomic_load(&p->stop))
            break;
        if (!call) {
            bool more = false;

            /* Idle long enough: the caller's housekeeping, on this connection. */
            keep = p->cfg.idle(conn, p->cfg.cls, &more);
            next_idle = na_clock_after_ms(more ? NA_PGPOOL_IDLE_AGAIN_MS : p->cfg.idle_ms);
            if (!keep) {
                pthread_mutex_lock(&p->lock);
                l->connected--;
                pthread_mutex_unlock(&p->lock);
                p->cfg.close(conn, p->cfg.cls);
                conn = NULL;
            }
            continue;
        }

        uint64_t t0 = na_clock_ns(), took;

        for (struct na_store_call *c = call; c; c = c->next)
            c->not_run = false;
        keep =
            n > 1 ? p->cfg.run_group(conn, call, p->cfg.cls) : p->cfg.run(conn, call, p->cfg.cls);
        took = na_clock_ns() - t0;

        pthread_mutex_lock(&p->lock);
        l->busy--;
        l->running_groupable -= call->groupable;
        w->groupable_since = 0;
        wrote = call->groupable;
        if (!keep)
            l->connected--;
        if (n > 1) {
            p->groups++;
            p->grouped += n;
        }
        if (!keep) {
            call = requeue(p, l, call);
            /* Calls held for this worker's group are its no longer: it reconnects first. */
            if (l->head)
                pthread_cond_signal(&l->work);
        }
        for (struct na_store_call *c = call; c; c = c->next)
            if (l == &p->items && (c->rc == NA_STORE_UNAVAILABLE || c->rc == NA_STORE_UNKNOWN ||
                                   c->rc == NA_STORE_ERROR))
                p->errors++;
        pthread_mutex_unlock(&p->lock);
        if (!keep) {
            p->cfg.close(conn, p->cfg.cls);
            conn = NULL;
        }
        while (call) {
            struct na_store_call *next = call->next; /* done() may reuse the call */

            if (p->cfg.metrics && l == &p->items)
                na_metrics_db_query(p->cfg.metrics, took);
            call->done(call);
            call = next;
        }
    }
    if (conn) {
        p->cfg.close(conn, p->cfg.cls);
        pthread_mutex_lock(&p->lock);
        l->connected--;
        pthread_mutex_unlock(&p->lock);
    }
    return NULL;
}

/* Pops the calls of `l` that waited past its acquire timeout onto *expired. */
static void expire(struct lane *l, uint64_t now, struct na_store_call **expired, uint64_t *next_due)
{
    while (l->head) {
        uint64_t due = l->head->arrived_ns + (uint64_t)l->acquire_ms * 1000000u;

        if (due > now) {
            if (due < *next_due)
                *next_due = due;
            return;
        }
        struct na_store_call *call = pop(l);

        call->next = *expired;
        *expired = call;
        l->timeouts++;
    }
}

static void *supervisor_main(void *arg)
{
    struct na_pgpool *p = arg;

    pthread_mutex_lock(&p->lock);
    while (!atomic_load(&p->stop)) {
        struct na_store_call *items = NULL, *pings = NULL;
        uint64_t now = na_clock_ns(), next = UINT64_MAX;
        bool items_down = !p->items.connected, health_down = !p->health.connected;

        expire(&p->items, now, &items, &next);
        expire(&p->health, now, &pings, &next);
        if (p->cfg.hold_ms && p->items.head && p->items.head->groupable) {
            /*
             * Held calls wake no worker when they come: one is woken as their
             * hold ends (or now, if it ended unseen: the group they were held
             * for ended on a connection lost, say).
             */
            uint64_t due = hold_ends(p, &p->items);

            if (now >= due)
                pthread_cond_signal(&p->items.work);
            else if (due < next)
                next = due;
        }
        if (items || pings) {
            pthread_mutex_unlock(&p->lock);
            fail_all(items, items_down ? "database unavailable, retry later"
                                       : "no database connection free in time, retry later");
            fail_all(pings,
                     health_down ? "database unavailable" : "database did not answer in time");
            pthread_mutex_lock(&p->lock);
            continue;
        }
        if (next == UINT64_MAX) {
            pthread_cond_wait(&p->tick, &p->lock);
        } else {
            struct timespec ts = na_clock_timespec(next);

            pthread_cond_timedwait(&p->tick, &p->lock, &ts);
        }
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static int init_cond(pthread_cond_t *c)
{
    pthread_condattr_t attr;
    int rc;

    if (pthread_condattr_init(&attr))
        return -1;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    rc = pthread_cond_init(c, &attr);
    pthread_condattr_destroy(&attr);
    return rc ? -1 : 0;
}

struct na_pgpool *na_pgpool_start(const struct na_pgpool_config *cfg)
{
    struct na_pgpool *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    p->cfg = *cfg;
    if (!p->cfg.backoff_min_ms)
        p->cfg.backoff_min_ms = NA_PGPOOL_BACKOFF_MIN_MS;
    if (!p->cfg.backoff_max_ms)
        p->cfg.backoff_max_ms = NA_PGPOOL_BACKOFF_MAX_MS;
    atomic_init(&p->stop, false);
    p->items.acquire_ms = cfg->acquire_timeout_ms;
    p->health.acquire_ms = cfg->health_timeout_ms;
    pthread_mutex_init(&p->lock, NULL);
    if (init_cond(&p->tick) || init_cond(&p->stopping) || init_cond(&p->items.work) ||
        init_cond(&p->health.work))
        goto fail;
    p->nworkers = cfg->size + 1;
    p->workers = calloc(p->nworkers, sizeof(*p->workers));
    if (!p->workers)
        goto fail;
    if (pthread_create(&p->supervisor, NULL, supervisor_main, p))
        goto fail;
    p->supervisor_started = true;
    for (unsigned i = 0; i < p->nworkers; i++) {
        struct worker *w = &p->workers[i];

        w->pool = p;
        w->seed = (unsigned)time(NULL) ^ (i * 2654435761u);
        w->lane = i < cfg->size ? &p->items : &p->health;
        if (pthread_create(&w->thread, NULL, worker_main, w))
            goto fail;
        w->started = true;
    }
    return p;
fail:
    na_pgpool_free(p);
    return NULL;
}

void na_pgpool_stats(struct na_pgpool *p, struct na_pgpool_stats *out)
{
    pthread_mutex_lock(&p->lock);
    out->size = p->cfg.size;
    out->connected = p->items.connected;
    out->busy = p->items.busy;
    out->waiting = p->items.waiting;
    out->acquire_timeouts = p->items.timeouts;
    out->reconnects = p->reconnects;
    out->errors = p->errors;
    out->groups = p->groups;
    out->held = p->items.holds;
    out->reruns = p->items.reruns + p->health.reruns;
    out->grouped = p->grouped;
    pthread_mutex_unlock(&p->lock);
}

void na_pgpool_shutdown(struct na_pgpool *p)
{
    struct na_store_call *queued = NULL, *call;

    pthread_mutex_lock(&p->lock);
    if (p->shut) {
        pthread_mutex_unlock(&p->lock);
        return;
    }
    p->shut = true;
    atomic_store(&p->stop, true);
    while ((call = pop(&p->items)) || (call = pop(&p->health))) {
        call->next = queued;
        queued = call;
    }
    pthread_cond_broadcast(&p->tick);
    pthread_cond_broadcast(&p->stopping);
    pthread_cond_broadcast(&p->items.work);
    pthread_cond_broadcast(&p->health.work);
    pthread_mutex_unlock(&p->lock);
    fail_all(queued, "server shutting down");
    /* Running calls end within their deadlines; then every thread is gone. */
    for (unsigned i = 0; i < p->nworkers; i++) {
        if (p->workers[i].started)
            pthread_join(p->workers[i].thread, NULL);
        p->workers[i].started = false;
    }
    if (p->supervisor_started)
        pthread_join(p->supervisor, NULL);
    p->supervisor_started = false;
}

void na_pgpool_free(struct na_pgpool *p)
{
    if (!p)
        return;
    if (p->workers || p->supervisor_started)
        na_pgpool_shutdown(p);
    free(p->workers);
    pthread_cond_destroy(&p->tick);
    pthread_cond_destroy(&p->stopping);
    pthread_cond_destroy(&p->items.work);
    pthread_cond_destroy(&p->health.work);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
