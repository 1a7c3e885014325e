/*
 * worker: a bounded FIFO served by a fixed pool of threads (see
 * include/na/worker.h).
 */
#include "na/worker.h"

#include <pthread.h>
#include <stdlib.h>

struct na_worker {
    na_worker_fn fn;
    na_worker_early_fn early;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* a job queued, or the pool stopping */
    pthread_cond_t idle; /* a running job ended */
    pthread_t *threads;
    unsigned nthreads;
    void **ring; /* the queue: `count` jobs from `head` */
    size_t cap, head, count;
    size_t running;
    bool closed; /* flushed: refuse new jobs */
    bool quit;   /* threads exit */
    atomic_bool stop;
};

static void *worker_main(void *arg)
{
    struct na_worker *w = arg;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        void *cls;

        while (!w->count && !w->quit)
            pthread_cond_wait(&w->wake, &w->lock);
        if (w->quit)
            break;
        cls = w->ring[w->head];
        w->head = (w->head + 1) % w->cap;
        w->count--;
        w->running++;
        /* Run outside the lock: the job may take the server's locks, and takes long. */
        pthread_mutex_unlock(&w->lock);
        w->fn(cls, false);
        pthread_mutex_lock(&w->lock);
        w->running--;
        pthread_cond_broadcast(&w->idle);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

struct na_worker *na_worker_new(unsigned threads, size_t queue_max, na_worker_fn fn,
                                na_worker_early_fn early)
{
    struct na_worker *w = calloc(1, sizeof(*w));

    if (!w)
        return NULL;
    w->fn = fn;
    w->early = early;
    w->cap = queue_max ? queue_max : 1;
    w->nthreads = threads ? threads : 1;
    atomic_init(&w->stop, false);
    w->ring = calloc(w->cap, sizeof(*w->ring));
    w->threads = calloc(w->nthreads, sizeof(*w->threads));
    if (!w->ring || !w->threads)
        goto fail_alloc;
    if (pthread_mutex_init(&w->lock, NULL))
        goto fail_alloc;
    if (pthread_cond_init(&w->wake, NULL))
        goto fail_lock;
    if (pthread_cond_init(&w->idle, NULL))
        goto fail_wake;
    for (unsigned i = 0; i < w->nthreads; i++) {
        if (pthread_create(&w->threads[i], NULL, worker_main, w)) {
            w->nthreads = i; /* those started are joined by the free */
            na_worker_free(w);
            return NULL;
        }
    }
    return w;
fail_wake:
    pthread_cond_destroy(&w->wake);
fail_lock:
    pthread_mutex_destroy(&w->lock);
fail_alloc:
    free(w->ring);
    free(w->threads);
    free(w);
    return NULL;
}

int na_worker_submit(struct na_worker *w, void *cls)
{
    int rc = -1;

    pthread_mutex_lock(&w->lock);
    if (!w->closed && w->count < w->cap) {
        w->ring[(w->head + w->count) % w->cap] = cls;
        w->count++;
        pthread_cond_signal(&w->wake);
        rc = 0;
    }
    pthread_mutex_unlock(&w->lock);
    return rc;
}

void na_worker_poke(struct na_worker *w)
{
    void **fire;
    size_t n = 0, kept = 0;

    if (!w->early)
        return;
    pthread_mutex_lock(&w->lock);
    fire = malloc(w->count * sizeof(*fire) + 1);
    if (!fire) {
        pthread_mutex_unlock(&w->lock);
        return; /* asked again at the next poke */
    }
    /* The queue compacted in order, from its head. */
    for (size_t i = 0; i < w->count; i++) {
        void *cls = w->ring[(w->head + i) % w->cap];

        if (w->early(cls))
            fire[n++] = cls;
        else
            w->ring[(w->head + kept++) % w->cap] = cls;
    }
    w->count = kept;
    pthread_mutex_unlock(&w->lock);
    for (size_t i = 0; i < n; i++)
        w->fn(fire[i], true);
    free(fire);
}

const atomic_bool *na_worker_stop_flag(const struct na_worker *w)
{
    return &w->stop;
}

size_t na_worker_pending(struct na_worker *w)
{
    size_t n;

    pthread_mutex_lock(&w->lock);
    n = w->count + w->running;
    pthread_mutex_unlock(&w->lock);
    return n;
}

void na_worker_flush(struct na_worker *w)
{
    atomic_store(&w->stop, true);
    pthread_mutex_lock(&w->lock);
    w->closed = true;
    while (w->count) {
        void *cls = w->ring[w->head];

        w->head = (w->head + 1) % w->cap;
        w->count--;
        pthread_mutex_unlock(&w->lock);
        w->fn(cls, true);
        pthread_mutex_lock(&w->lock);
    }
    while (w->running)
        pthread_cond_wait(&w->idle, &w->lock);
    pthread_mutex_unlock(&w->lock);
}

void na_worker_free(struct na_worker *w)
{
    if (!w)
        return;
    na_worker_flush(w);
    pthread_mutex_lock(&w->lock);
    w->quit = true;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    for (unsigned i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    pthread_cond_destroy(&w->idle);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w->ring);
    free(w->threads);
    free(w);
}
