/*
 * Unit tests for timer: entries fire in deadline order, and a flush fires
 * the rest as cancelled.
 */
#include "unit.h"

#include <pthread.h>
#include <unistd.h>

#include "na/timer.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static intptr_t fired[16];
static bool cancelled_flags[16];
static size_t nfired;

static void on_fire(void *cls, bool cancelled)
{
    pthread_mutex_lock(&lock);
    cancelled_flags[nfired] = cancelled;
    fired[nfired++] = (intptr_t)cls;
    pthread_mutex_unlock(&lock);
}

static size_t count(void)
{
    size_t n;

    pthread_mutex_lock(&lock);
    n = nfired;
    pthread_mutex_unlock(&lock);
    return n;
}

static void test_order_and_flush(void **state)
{
    struct na_timer *t = na_timer_new(on_fire, NULL);

    (void)state;
    assert_non_null(t);
    nfired = 0;
    assert_int_equal(na_timer_add(t, 60, (void *)3), 0);
    assert_int_equal(na_timer_add(t, 20, (void *)1), 0);
    assert_int_equal(na_timer_add(t, 40, (void *)2), 0);
    assert_int_equal(na_timer_add(t, 60000, (void *)9), 0);
    for (int i = 0; i < 500 && count() < 3; i++)
        usleep(10000);
    assert_int_equal(count(), 3);
    assert_int_equal(fired[0], 1);
    assert_int_equal(fired[1], 2);
    assert_int_equal(fired[2], 3);
    assert_false(cancelled_flags[0]);
    assert_int_equal(na_timer_pending(t), 1);
    na_timer_flush(t);
    assert_int_equal(count(), 4);
    assert_int_equal(fired[3], 9);
    assert_true(cancelled_flags[3]);
    assert_int_equal(na_timer_add(t, 1, (void *)5), -1);
    na_timer_free(t);
}

static void test_many(void **state)
{
    struct na_timer *t = na_timer_new(on_fire, NULL);

    (void)state;
    nfired = 0;
    for (intptr_t i = 0; i < 16; i++)
        assert_int_equal(na_timer_add(t, (unsigned)(16 - i), (void *)i), 0);
    na_timer_free(t); /* fires whatever is left, cancelled */
    assert_int_equal(count(), 16);
}

/* Entries whose owner says so fire early, cancelled, after a poke; the rest keep their order. */
static bool early_odd(void *cls)
{
    return (intptr_t)cls % 2 == 1;
}

static void test_early(void **state)
{
    struct na_timer *t = na_timer_new(on_fire, early_odd);

    (void)state;
    nfired = 0;
    for (intptr_t i = 1; i <= 6; i++)
        assert_int_equal(na_timer_add(t, 60000 + (unsigned)(10 * (7 - i)), (void *)i), 0);
    na_timer_poke(t);
    for (int i = 0; i < 500 && count() < 3; i++)
        usleep(10000);
    assert_int_equal(count(), 3);
    for (size_t i = 0; i < 3; i++) {
        assert_true(fired[i] % 2 == 1);
        assert_true(cancelled_flags[i]);
    }
    assert_int_equal(na_timer_pending(t), 3);
    assert_int_equal(na_timer_add(t, 1, (void *)8), 0);
    for (int i = 0; i < 500 && count() < 4; i++)
        usleep(10000);
    assert_int_equal(fired[3], 8); /* the heap still orders the rest */
    assert_false(cancelled_flags[3]);
    na_timer_flush(t);
    assert_int_equal(count(), 7);
    assert_int_equal(fired[4], 6); /* due first of 2, 4 and 6 */
    assert_int_equal(fired[5], 4);
    assert_int_equal(fired[6], 2);
    na_timer_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_flush),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_early),
    };

    return RUN(tests);
}
