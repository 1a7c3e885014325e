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
    struct na_timer *t = na_timer_new(on_fire);

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
    struct na_timer *t = na_timer_new(on_fire);

    (void)state;
    nfired = 0;
    for (intptr_t i = 0; i < 16; i++)
        assert_int_equal(na_timer_add(t, (unsigned)(16 - i), (void *)i), 0);
    na_timer_free(t); /* fires whatever is left, cancelled */
    assert_int_equal(count(), 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_flush),
        cmocka_unit_test(test_many),
    };

    return RUN(tests);
}
