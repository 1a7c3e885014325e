/*
 * Unit tests for the embedded store's Idempotency-Keys: replays and
 * mismatches, the bound on keys held, and expiry through a full turn of
 * the ring (keys made after others expire reuse their slots and chains).
 */
#include "unit.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "na/idem.h"
#include "na/store.h"

static void done(struct na_store_call *call)
{
    (void)call;
}

/* A keyed CREATE of `name` under `key`, run to its end. */
static struct na_store_call create(struct na_store *s, const char *key, const char *name)
{
    struct na_store_call c;

    memset(&c, 0, sizeof(c));
    c.op = NA_STORE_CREATE;
    snprintf(c.item.name, sizeof(c.item.name), "%s", name);
    c.item.price_cents = 100;
    snprintf(c.idem.key, sizeof(c.idem.key), "%s", key);
    na_idem_scope("api-key", c.idem.scope);
    na_idem_fingerprint(c.op, 0, &c.item, c.idem.fingerprint);
    c.idem.ttl_s = 1;
    c.done = done;
    na_store_submit(s, &c);
    return c;
}

static void test_replay_and_mismatch(void **state)
{
    struct na_store *s = na_store_memory_new(100, 8);
    struct na_store_call a, b, c;

    (void)state;
    a = create(s, "k", "one");
    assert_int_equal(a.rc, NA_STORE_OK);
    assert_false(a.replayed);
    b = create(s, "k", "one");
    assert_int_equal(b.rc, NA_STORE_OK);
    assert_true(b.replayed);
    assert_int_equal(b.result.id, a.result.id);
    assert_string_equal(b.result.name, "one");
    c = create(s, "k", "two");
    assert_int_equal(c.rc, NA_STORE_KEY_REUSED);
    assert_false(c.replayed);
    na_store_free(s);
}

static void test_bound_and_expiry_round_the_ring(void **state)
{
    struct na_store *s = na_store_memory_new(100, 3);
    char key[16];
    int64_t ids[3];

    (void)state;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 3; i++) {
            snprintf(key, sizeof(key), "r%d-%d", round, i);
            struct na_store_call c = create(s, key, key);

            assert_int_equal(c.rc, NA_STORE_OK);
            assert_false(c.replayed);
            ids[i] = c.result.id;
        }
        /* Full: a fourth live key is refused, not made by forgetting one. */
        struct na_store_call full = create(s, "extra", "extra");

        assert_int_equal(full.rc, NA_STORE_UNAVAILABLE);
        assert_non_null(strstr(full.detail, "IDEMPOTENCY_MAX_KEYS"));
        for (int i = 0; i < 3; i++) {
            snprintf(key, sizeof(key), "r%d-%d", round, i);
            struct na_store_call again = create(s, key, key);

            assert_true(again.replayed);
            assert_int_equal(again.result.id, ids[i]);
        }
        usleep(1100000); /* every key of this round expires */
    }
    na_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_and_mismatch),
        cmocka_unit_test(test_bound_and_expiry_round_the_ring),
    };

    return RUN(tests);
}
