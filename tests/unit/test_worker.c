/*
 * Unit tests for worker: jobs run off the caller's thread, the queue is
 * bounded, and a flush cancels what waits and stops what runs.
 */
#include "unit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "na/worker.h"

static struct na_worker *pool;
static atomic_int ran, cancelled, running, stopped_early;
static atomic_bool release_jobs;

static void job(void *cls, bool was_cancelled)
{
    const atomic_bool *stop = na_worker_stop_flag(pool);

    (void)cls;
    if (was_cancelled) {
        atomic_fetch_add(&cancelled, 1);
        return;
    }
    atomic_fetch_add(&running, 1);
    /* Holds its thread until released or stopped. */
    while (!atomic_load(&release_jobs)) {
        if (atomic_load(stop)) {
            atomic_fetch_add(&stopped_early, 1);
            break;
        }
        usleep(1000);
    }
    atomic_fetch_add(&ran, 1);
}

static void reset(void)
{
    atomic_store(&ran, 0);
    atomic_store(&cancelled, 0);
    atomic_store(&running, 0);
    atomic_store(&stopped_early, 0);
    atomic_store(&release_jobs, false);
}

static void wait_for(atomic_int *x, int n)
{
    for (int i = 0; i < 5000 && atomic_load(x) < n; i++)
        usleep(1000);
}

static void test_runs_and_bounds(void **state)
{
    (void)state;
    reset();
    pool = na_worker_new(2, 3, job, NULL);
    assert_non_null(pool);
    /* Two run at once, three wait; the sixth is refused. */
    for (int i = 0; i < 2; i++)
        assert_int_equal(na_worker_submit(pool, NULL), 0);
    wait_for(&running, 2);
    assert_int_equal(atomic_load(&running), 2);
    for (int i = 0; i < 3; i++)
        assert_int_equal(na_worker_submit(pool, NULL), 0);
    assert_int_equal(na_worker_pending(pool), 5);
    assert_int_equal(na_worker_submit(pool, NULL), -1);
    atomic_store(&release_jobs, true);
    wait_for(&ran, 5);
    assert_int_equal(atomic_load(&ran), 5);
    assert_int_equal(atomic_load(&cancelled), 0);
    for (int i = 0; i < 100 && na_worker_pending(pool); i++)
        usleep(1000);
    assert_int_equal(na_worker_pending(pool), 0);
    na_worker_free(pool);
}

static void test_flush(void **state)
{
    (void)state;
    reset();
    pool = na_worker_new(1, 8, job, NULL);
    assert_non_null(pool);
    for (int i = 0; i < 4; i++)
        assert_int_equal(na_worker_submit(pool, NULL), 0);
    wait_for(&running, 1);
    /* The running job is told to stop and waited for; the three queued are cancelled. */
    na_worker_flush(pool);
    assert_int_equal(atomic_load(&stopped_early), 1);
    assert_int_equal(atomic_load(&ran), 1);
    assert_int_equal(atomic_load(&cancelled), 3);
    assert_int_equal(na_worker_pending(pool), 0);
    assert_int_equal(na_worker_submit(pool, NULL), -1);
    na_worker_free(pool);
    na_worker_free(NULL);
}

/* Queued jobs whose owner says so leave the queue on a poke, cancelled; the rest keep order. */
static atomic_int order[8], norder;

static bool early_odd(void *cls)
{
    return (intptr_t)cls % 2 == 1;
}

static void record(void *cls, bool was_cancelled)
{
    if (was_cancelled) {
        atomic_fetch_add(&cancelled, 1);
        return;
    }
    atomic_fetch_add(&running, 1);
    while (!atomic_load(&release_jobs))
        usleep(1000);
    atomic_store(&order[atomic_fetch_add(&norder, 1)], (int)(intptr_t)cls);
    atomic_fetch_add(&ran, 1);
}

static void test_poke(void **state)
{
    (void)state;
    reset();
    atomic_store(&norder, 0);
    pool = na_worker_new(1, 6, record, early_odd);
    assert_non_null(pool);
    assert_int_equal(na_worker_submit(pool, (void *)(intptr_t)10), 0); /* runs, held */
    wait_for(&running, 1);
    for (intptr_t i = 1; i <= 6; i++)
        assert_int_equal(na_worker_submit(pool, (void *)i), 0);
    assert_int_equal(na_worker_submit(pool, (void *)(intptr_t)8), -1); /* full */
    na_worker_poke(pool);
    assert_int_equal(atomic_load(&cancelled), 3);
    assert_int_equal(na_worker_pending(pool), 4);
    assert_int_equal(na_worker_submit(pool, (void *)(intptr_t)8), 0); /* room again */
    atomic_store(&release_jobs, true);
    wait_for(&ran, 5);
    assert_int_equal(atomic_load(&ran), 5);
    assert_int_equal(atomic_load(&order[0]), 10);
    assert_int_equal(atomic_load(&order[1]), 2);
    assert_int_equal(atomic_load(&order[2]), 4);
    assert_int_equal(atomic_load(&order[3]), 6);
    assert_int_equal(atomic_load(&order[4]), 8);
    na_worker_free(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs_and_bounds),
        cmocka_unit_test(test_flush),
        cmocka_unit_test(test_poke),
    };
    return RUN(tests);
}
