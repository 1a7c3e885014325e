/*
 * Unit tests for quota: takes within the cap succeed, a take that would
 * pass it fails whole, and threads taking and giving at once never see
 * more than the cap taken.
 */
#include "unit.h"

#include <pthread.h>

#include "na/quota.h"

static void test_bounds(void **state)
{
    struct na_quota q;

    (void)state;
    na_quota_init(&q, 100);
    assert_true(na_quota_take(&q, 60));
    assert_false(na_quota_take(&q, 41)); /* all or nothing */
    assert_int_equal(na_quota_used(&q), 60);
    assert_true(na_quota_take(&q, 40));
    assert_false(na_quota_take(&q, 1));
    na_quota_give(&q, 100);
    assert_int_equal(na_quota_used(&q), 0);
    assert_false(na_quota_take(&q, 101));
    assert_false(na_quota_take(&q, UINT64_MAX)); /* no overflow past the cap */
}

static struct na_quota shared;
static atomic_bool over;

static void *churn(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++) {
        if (na_quota_take(&shared, 7)) {
            if (na_quota_used(&shared) > shared.cap)
                atomic_store(&over, true);
            na_quota_give(&shared, 7);
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    pthread_t t[4];

    (void)state;
    na_quota_init(&shared, 20);
    atomic_init(&over, false);
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, churn, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_false(atomic_load(&over));
    assert_int_equal(na_quota_used(&shared), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_threads),
    };

    return RUN(tests);
}
