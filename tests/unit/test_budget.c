/*
 * Unit tests for budget: the memory plan's arithmetic.
 */
#include "unit.h"

#include <string.h>

#include "na/budget.h"

static int plan(struct na_budget *b, uint64_t limit_mb, unsigned conns, uint64_t body,
                uint64_t nofile, const char **bad)
{
    struct na_budget_input in = {
        .limit_bytes = limit_mb * NA_MIB,
        .shed_percent = 90,
        .max_connections = conns,
        .max_body_bytes = body,
        .nofile = nofile,
    };
    char msg[256];

    *bad = NULL;
    return na_budget_plan(&in, b, bad, msg, sizeof(msg));
}

static void test_no_limit(void **state)
{
    struct na_budget b;
    const char *bad;

    (void)state;
    assert_int_equal(plan(&b, 0, 0, NA_MIB, 1 << 20, &bad), 0);
    assert_int_equal(b.max_connections, NA_DEFAULT_MAX_CONNECTIONS);
    assert_int_equal(b.shed_bytes, 0);
    assert_int_equal(b.body_pool_bytes, NA_DEFAULT_BODY_POOL);
    assert_int_equal(b.response_pool_bytes, NA_DEFAULT_RESPONSE_POOL);
    assert_int_equal(b.refuse_max, NA_REFUSE_MAX);
    /* Few descriptors cap the derived default; refusals take at most half. */
    assert_int_equal(plan(&b, 0, 0, NA_MIB, 1024, &bad), 0);
    assert_int_equal(b.refuse_max, (1024 - NA_FD_RESERVE) / 2);
    assert_int_equal(b.max_connections, 1024 - NA_FD_RESERVE - b.refuse_max);
}

/* With a limit, the worst case stays within the plan's share of it. */
static void test_limit_bounds_worst_case(void **state)
{
    static const uint64_t limits[] = {48, 64, 256, 512, 1024, 4096, 30720};
    struct na_budget b;
    const char *bad;

    (void)state;
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        assert_int_equal(plan(&b, limits[i], 0, NA_MIB, 1 << 20, &bad), 0);
        assert_int_equal(b.shed_bytes, limits[i] * NA_MIB / 100 * 90);
        assert_int_equal(b.plan_bytes, limits[i] * NA_MIB / 100 * NA_PLAN_PERCENT);
        assert_true(b.worst_case_bytes <= b.plan_bytes);
        assert_int_equal(b.worst_case_bytes, b.fixed_bytes +
                                                 b.max_connections * b.per_connection_bytes +
                                                 b.body_pool_bytes + b.response_pool_bytes +
                                                 (uint64_t)b.refuse_max * NA_REFUSAL_BYTES);
        assert_true(b.max_connections >= 16);
        assert_true(b.refuse_max >= NA_REFUSE_MIN && b.refuse_max <= NA_REFUSE_MAX);
        assert_true(b.body_pool_bytes >= NA_MIB);
        assert_true(b.response_pool_bytes >= NA_MIB);
    }
}

/* Everything a connection may hold is in its figure, the kernel's socket buffers too. */
static void test_1024_mb_figures(void **state)
{
    struct na_budget b;
    const char *bad;
    uint64_t usable = 1024 * NA_MIB / 100 * 90;
    uint64_t per = NA_CONN_POOL_BYTES + NA_CONN_OVERHEAD_BYTES +
                   2 * (NA_SOCK_SNDBUF + NA_SOCK_RCVBUF) + NA_RESPONSE_SMALL_BYTES;
    uint64_t refusals = usable / 100 * NA_REFUSE_PERCENT / NA_REFUSAL_BYTES;

    (void)state;
    assert_int_equal(plan(&b, 1024, 0, NA_MIB, 1 << 20, &bad), 0);
    assert_int_equal(b.per_connection_bytes, per);
    assert_int_equal(b.body_pool_bytes, usable / 4);
    assert_int_equal(b.response_pool_bytes, usable / 8);
    assert_int_equal(b.refuse_max, refusals);
    assert_int_equal(
        b.max_connections,
        (usable - NA_FIXED_BYTES - usable / 4 - usable / 8 - refusals * NA_REFUSAL_BYTES) / per);
}

/* The embedded store's caps are part of the fixed share. */
static void test_store_caps(void **state)
{
    struct na_budget_input in = {.limit_bytes = 512 * NA_MIB,
                                 .shed_percent = 90,
                                 .max_body_bytes = NA_MIB,
                                 .nofile = 1 << 20};
    struct na_budget with, without;
    const char *bad = NULL;
    char msg[256];

    (void)state;
    assert_int_equal(na_budget_plan(&in, &without, &bad, msg, sizeof(msg)), 0);
    in.store_bytes = 40 * NA_MIB;
    in.store_var = "MEMORY_STORE_MAX_ITEMS";
    assert_int_equal(na_budget_plan(&in, &with, &bad, msg, sizeof(msg)), 0);
    assert_int_equal(with.fixed_bytes, without.fixed_bytes + 40 * NA_MIB);
    assert_true(with.max_connections < without.max_connections);
    in.limit_bytes = 64 * NA_MIB;
    assert_int_equal(na_budget_plan(&in, &with, &bad, msg, sizeof(msg)), -1);
    assert_string_equal(bad, "MEMORY_STORE_MAX_ITEMS");
}

static void test_errors(void **state)
{
    struct na_budget b;
    const char *bad;

    (void)state;
    assert_int_equal(plan(&b, 64, 1000, NA_MIB, 1 << 20, &bad), -1);
    assert_string_equal(bad, "MAX_CONNECTIONS");
    assert_int_equal(plan(&b, 64, 0, 40 * NA_MIB, 1 << 20, &bad), -1);
    assert_string_equal(bad, "MAX_BODY_BYTES");
    assert_int_equal(plan(&b, 16, 0, NA_MIB, 1 << 20, &bad), -1);
    assert_string_equal(bad, "MEMORY_LIMIT_MB");
    assert_int_equal(plan(&b, 0, 5000, NA_MIB, 1024, &bad), -1);
    assert_string_equal(bad, "MAX_CONNECTIONS");
    assert_int_equal(plan(&b, 0, 0, NA_MIB, 10, &bad), -1);
    assert_string_equal(bad, "MAX_CONNECTIONS");
}

/* The shedding threshold is a knob of its own: it does not shrink the plan. */
static void test_shed_percent_is_independent(void **state)
{
    struct na_budget_input in = {
        .limit_bytes = 64 * NA_MIB, .shed_percent = 1, .max_body_bytes = NA_MIB, .nofile = 1 << 20};
    struct na_budget b;
    const char *bad = NULL;
    char msg[256];

    (void)state;
    assert_int_equal(na_budget_plan(&in, &b, &bad, msg, sizeof(msg)), 0);
    assert_int_equal(b.shed_bytes, 64 * NA_MIB / 100);
    assert_true(b.max_connections > 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_limit),        cmocka_unit_test(test_limit_bounds_worst_case),
        cmocka_unit_test(test_1024_mb_figures), cmocka_unit_test(test_store_caps),
        cmocka_unit_test(test_errors),          cmocka_unit_test(test_shed_percent_is_independent),
    };

    return RUN(tests);
}
