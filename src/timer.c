/*
 * timer: deadline heap served by one thread (see include/na/timer.h).
 */
#include "na/timer.h"

#include "na/clock.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct entry {
    uint64_t due_ns; /* CLOCK_MONOTONIC */
    void *cls;
};

struct na_timer {
    na_timer_fn fn;
    na_timer_early_fn early;
    bool poked; /* ask `early` of every entry */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    struct entry *heap;
    size_t count, cap;
    bool closed; /* flushed: refuse new entries */
    bool stop;
};

static void swap(struct entry *a, struct entry *b)
{
    struct entry t = *a;

    *a = *b;
    *b = t;
}

static void sift_up(struct entry *h, size_t i)
{
    while (i && h[(i - 1) / 2].due_ns > h[i].due_ns) {
        swap(&h[(i - 1) / 2], &h[i]);
        i = (i - 1) / 2;
    }
}

static void sift_down(struct entry *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;

        if (l < n && h[l].due_ns < h[m].due_ns)
            m = l;
        if (r < n && h[r].due_ns < h[m].due_ns)
            m = r;
        if (m == i)
            return;
        swap(&h[m], &h[i]);
        i = m;
    }
}

static struct entry pop(struct na_timer *t)
{
    struct entry top = t->heap[0];

    t->heap[0] = t->heap[--t->count];
    sift_down(t->heap, t->count, 0);
    return top;
}

/*
 * Takes the entries `early` says yes to out of the heap, into `out` (the
 * caller frees it), and returns how many; the rest are made a heap again.
 * With the lock held; `early` only reads atomics of the entry's owner.
 */
static size_t take_early(struct na_timer *t, struct entry **out)
{
    size_t kept = 0, n = 0;
    struct entry *fire = malloc(t->count * sizeof(*fire) + 1);

    *out = fire;
    if (!fire)
        return 0; /* asked again at the next poke */
    for (size_t i = 0; i < t->count; i++) {
        if (t->early(t->heap[i].cls))
            fire[n++] = t->heap[i];
        else
            t->heap[kept++] = t->heap[i];
    }
    t->count = kept;
    for (size_t i = kept / 2; i-- > 0;)
        sift_down(t->heap, t->count, i);
    return n;
}

static void *timer_main(void *arg)
{
    struct na_timer *t = arg;

    pthread_mutex_lock(&t->lock);
    while (!t->stop) {
        uint64_t now = na_clock_ns();

        if (t->poked) {
            struct entry *fire;
            size_t n;

            t->poked = false;
            n = take_early(t, &fire);
            /* Fire outside the lock, as below. */
            pthread_mutex_unlock(&t->lock);
            for (size_t i = 0; i < n; i++)
                t->fn(fire[i].cls, true);
            free(fire);
            pthread_mutex_lock(&t->lock);
            continue;
        }
        if (!t->count) {
            pthread_cond_wait(&t->wake, &t->lock);
            continue;
        }
        if (t->heap[0].due_ns > now) {
            struct timespec ts = na_clock_timespec(t->heap[0].due_ns);

            pthread_cond_timedwait(&t->wake, &t->lock, &ts);
            continue;
        }
        struct entry e = pop(t);

        /* Fire outside the lock: the callback may take the server's locks. */
        pthread_mutex_unlock(&t->lock);
        t->fn(e.cls, false);
        pthread_mutex_lock(&t->lock);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

struct na_timer *na_timer_new(na_timer_fn fn, na_timer_early_fn early)
{
    struct na_timer *t = calloc(1, sizeof(*t));
    pthread_condattr_t attr;

    if (!t)
        return NULL;
    t->fn = fn;
    t->early = early;
    if (pthread_condattr_init(&attr))
        goto fail;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (pthread_cond_init(&t->wake, &attr)) {
        pthread_condattr_destroy(&attr);
        goto fail;
    }
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&t->lock, NULL);
    if (pthread_create(&t->thread, NULL, timer_main, t)) {
        pthread_cond_destroy(&t->wake);
        pthread_mutex_destroy(&t->lock);
        goto fail;
    }
    return t;
fail:
    free(t);
    return NULL;
}

int na_timer_add(struct na_timer *t, unsigned delay_ms, void *cls)
{
    int rc = -1;

    pthread_mutex_lock(&t->lock);
    if (t->closed)
        goto out;
    if (t->count == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        struct entry *h = realloc(t->heap, cap * sizeof(*h));

        if (!h)
            goto out;
        t->heap = h;
        t->cap = cap;
    }
    t->heap[t->count].due_ns = na_clock_after_ms(delay_ms);
    t->heap[t->count].cls = cls;
    sift_up(t->heap, t->count++);
    if (t->heap[0].cls == cls)
        pthread_cond_signal(&t->wake);
    rc = 0;
out:
    pthread_mutex_unlock(&t->lock);
    return rc;
}

void na_timer_poke(struct na_timer *t)
{
    pthread_mutex_lock(&t->lock);
    if (t->early) {
        t->poked = true;
        pthread_cond_signal(&t->wake);
    }
    pthread_mutex_unlock(&t->lock);
}

size_t na_timer_pending(struct na_timer *t)
{
    size_t n;

    pthread_mutex_lock(&t->lock);
    n = t->count;
    pthread_mutex_unlock(&t->lock);
    return n;
}

void na_timer_flush(struct na_timer *t)
{
    pthread_mutex_lock(&t->lock);
    t->closed = true;
    while (t->count) {
        struct entry e = pop(t);

        pthread_mutex_unlock(&t->lock);
        t->fn(e.cls, true);
        pthread_mutex_lock(&t->lock);
    }
    pthread_mutex_unlock(&t->lock);
}

void na_timer_free(struct na_timer *t)
{
    if (!t)
        return;
    na_timer_flush(t);
    pthread_mutex_lock(&t->lock);
    t->stop = true;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t->heap);
    free(t);
}
