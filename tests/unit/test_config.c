/*
 * Unit tests for config: defaults, validation, and which variable an error
 * names.
 */
#include "unit.h"

#include <string.h>

#include "na/config.h"

/* A fake environment: NULL-terminated name/value pairs. */
static const char *fake_get(const char *name, void *ctx)
{
    const char *const *kv = ctx;

    for (; kv[0]; kv += 2) {
        if (!strcmp(kv[0], name))
            return kv[1];
    }
    return NULL;
}

static const struct na_sysinfo si = {.cpus = 4, .memory_limit = 0, .nofile = 65536};

static int load(struct na_config *cfg, struct na_config_error *err, const char *const *env)
{
    return na_config_load(cfg, fake_get, (void *)env, &si, err);
}

static void test_defaults(void **state)
{
    const char *env[] = {NULL};
    struct na_config c;
    struct na_config_error e;

    (void)state;
    assert_int_equal(load(&c, &e, env), 0);
    assert_int_equal(c.port, 3000);
    assert_string_equal(c.host, "0.0.0.0");
    assert_string_equal(c.node_env, "development");
    assert_string_equal(c.app_version, NA_VERSION);
    assert_string_equal(c.service_name, "node-api");
    assert_int_equal(c.log_level, NA_LOG_INFO);
    assert_int_equal(c.threads, 4);
    assert_int_equal(c.keepalive_timeout_s, 65);
    assert_int_equal(c.shutdown_timeout_s, 25);
    assert_int_equal(c.max_body_bytes, 1048576);
    assert_int_equal(c.memory_shed_percent, 90);
    assert_true(c.access_log_ratio == 1.0);
    assert_false(c.loadtest_routes);
    assert_int_equal(c.metrics_at, NA_METRICS_OWN_PORT);
    assert_int_equal(c.metrics_port, 9464);
    assert_false(c.emf); /* not on ECS */
    assert_int_equal(c.emf_interval_s, 60);
    assert_string_equal(c.emf_namespace, "node-api");
    assert_int_equal(c.budget.limit_bytes, 0);
    assert_int_equal(c.budget.max_connections, NA_DEFAULT_MAX_CONNECTIONS);
    assert_int_equal(c.db_write_group_max, 32);
}

static void test_values(void **state)
{
    const char *env[] = {"PORT",
                         "8080",
                         "HOST",
                         "::",
                         "NODE_ENV",
                         "production",
                         "APP_VERSION",
                         "2.3.4",
                         "LOG_LEVEL",
                         "WARN",
                         "SERVICE_NAME",
                         "items-api",
                         "THREADS",
                         "3",
                         "ACCESS_LOG",
                         "0.01",
                         "ENABLE_LOADTEST_ROUTES",
                         "true",
                         "MEMORY_LIMIT_MB",
                         "512",
                         "MAX_CONNECTIONS",
                         "1000",
                         "DB_WRITE_GROUP_MAX",
                         "1",
                         NULL};
    struct na_config c;
    struct na_config_error e;

    (void)state;
    assert_int_equal(load(&c, &e, env), 0);
    assert_int_equal(c.port, 8080);
    assert_string_equal(c.host, "::");
    assert_string_equal(c.node_env, "production");
    assert_string_equal(c.app_version, "2.3.4");
    assert_int_equal(c.log_level, NA_LOG_WARN);
    assert_string_equal(c.service_name, "items-api");
    assert_int_equal(c.threads, 3);
    assert_true(c.access_log_ratio == 0.01);
    assert_true(c.loadtest_routes);
    assert_int_equal(c.budget.limit_bytes, 512 * NA_MIB);
    assert_int_equal(c.budget.max_connections, 1000);
    assert_int_equal(c.db_write_group_max, 1);
}

static void test_empty_is_unset(void **state)
{
    const char *env[] = {"PORT", "", "LOG_LEVEL", "", "THREADS", "", NULL};
    struct na_config c;
    struct na_config_error e;

    (void)state;
    assert_int_equal(load(&c, &e, env), 0);
    assert_int_equal(c.port, 3000);
    assert_int_equal(c.threads, 4);
}

/* Each malformed value fails and the error names its variable. */
static void test_errors_name_the_variable(void **state)
{
    static const char *const cases[][2] = {
        {"PORT", "abc"},
        {"PORT", "70000"},
        {"PORT", "-1"},
        {"PORT", " 80"},
        {"PORT", "99999999999999999999999"},
        {"THREADS", "0"},
        {"THREADS", "2.5"},
        {"LOG_LEVEL", "loud"},
        {"KEEPALIVE_TIMEOUT_S", "0"},
        {"SHUTDOWN_TIMEOUT_S", "x"},
        {"MAX_BODY_BYTES", "1e6"},
        {"MEMORY_LIMIT_MB", "0"},
        {"MEMORY_SHED_PERCENT", "101"},
        {"ACCESS_LOG", "sometimes"},
        {"ACCESS_LOG", "1.5"},
        {"ACCESS_LOG", "nan"},
        {"ENABLE_LOADTEST_ROUTES", "maybe"},
        {"METRICS_PORT", "65536"},
        {"METRICS_PORT", "nine"},
        {"METRICS_EMF", "sometimes"},
        {"METRICS_EMF_INTERVAL_S", "0"},
        {"METRICS_EMF_INTERVAL_S", "3601"},
        {"METRICS_EMF_NAMESPACE", "AWS/ECS"},
        {"METRICS_EMF_NAMESPACE", ":x"},
        {"METRICS_EMF_NAMESPACE", "a\\b"},
        {"SERVICE_NAME", "has space"},
        {"NODE_ENV", "bad\x01"},
        {"APP_VERSION", "\xff\xfe"},
        {"MAX_CONNECTIONS", "0"},
        {"DB_WRITE_GROUP_MAX", "0"},
        {"DB_WRITE_GROUP_MAX", "1001"},
        {"FAULT_ERROR_PERCENT", "101"},
        {"FAULT_ERROR_PERCENT", "ten"},
        {"FAULT_DELAY_MS", "200-100"},
        {"FAULT_DELAY_MS", "0-30001"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *env[] = {cases[i][0], cases[i][1], NULL};
        struct na_config c;
        struct na_config_error e;

        memset(&e, 0, sizeof(e));
        assert_int_equal(load(&c, &e, env), -1);
        assert_string_equal(e.var, cases[i][0]);
        assert_true(strlen(e.message) > 0);
    }
}

/* On ECS (its metadata variable set) EMF is on unless switched off. */
/*
 * Faults only with the load-testing routes: a production task given
 * FAULT_* by mistake stops at start rather than fail requests on purpose.
 */
static void test_faults(void **state)
{
    const char *off[] = {NULL};
    const char *on[] = {"ENABLE_LOADTEST_ROUTES",
                        "1",
                        "FAULT_ERROR_PERCENT",
                        "2.5",
                        "FAULT_DELAY_MS",
                        "10-20",
                        NULL};
    const char *zero[] = {"FAULT_ERROR_PERCENT", "0", "FAULT_DELAY_MS", "0", NULL};
    const char *without[][3] = {{"FAULT_ERROR_PERCENT", "5", NULL},
                                {"FAULT_DELAY_MS", "1-2", NULL}};
    struct na_config c;
    struct na_config_error e;

    (void)state;
    assert_int_equal(load(&c, &e, off), 0);
    assert_int_equal(c.faults.error_ppm, 0);
    assert_int_equal(c.faults.delay_max_ms, 0);
    assert_int_equal(load(&c, &e, on), 0);
    assert_int_equal(c.faults.error_ppm, 25000);
    assert_int_equal(c.faults.delay_min_ms, 10);
    assert_int_equal(c.faults.delay_max_ms, 20);
    assert_int_equal(load(&c, &e, zero), 0); /* no fault asked for: nothing to refuse */
    for (size_t i = 0; i < 2; i++) {
        memset(&e, 0, sizeof(e));
        assert_int_equal(load(&c, &e, without[i]), -1);
        assert_string_equal(e.var, without[i][0]);
        assert_non_null(strstr(e.message, "ENABLE_LOADTEST_ROUTES=1"));
    }
}

static void test_emf_on_ecs(void **state)
{
    const char *on_ecs[] = {"ECS_CONTAINER_METADATA_URI_V4", "http://169.254.170.2/v4/abc", NULL};
    const char *off[] = {"ECS_CONTAINER_METADATA_URI_V4", "http://169.254.170.2/v4/abc",
                         "METRICS_EMF", "off", NULL};
    struct na_config c;
    struct na_config_error e;

    (void)state;
    assert_int_equal(load(&c, &e, on_ecs), 0);
    assert_true(c.emf);
    assert_string_equal(c.ecs_metadata_uri, "http://169.254.170.2/v4/abc");
    assert_int_equal(load(&c, &e, off), 0);
    assert_false(c.emf);
}

/* METRICS_PORT: its own port (0: any free one), the main port when it is PORT, or off. */
static void test_metrics_port(void **state)
{
    static const struct {
        const char *port, *metrics;
        int at;
        unsigned metrics_port;
    } cases[] = {
        {"3000", "9100", NA_METRICS_OWN_PORT, 9100}, {"3000", "0", NA_METRICS_OWN_PORT, 0},
        {"0", "0", NA_METRICS_OWN_PORT, 0},          {"3000", "3000", NA_METRICS_MAIN_PORT, 3000},
        {"3000", "off", NA_METRICS_OFF, 0},          {"3000", "false", NA_METRICS_OFF, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *env[] = {"PORT", cases[i].port, "METRICS_PORT", cases[i].metrics, NULL};
        struct na_config c;
        struct na_config_error e;

        assert_int_equal(load(&c, &e, env), 0);
        assert_int_equal(c.metrics_at, cases[i].at);
        if (cases[i].at != NA_METRICS_OFF)
            assert_int_equal(c.metrics_port, cases[i].metrics_port);
    }
}

static void test_budget_errors_name_the_variable(void **state)
{
    const char *conns[] = {"MEMORY_LIMIT_MB", "64", "MAX_CONNECTIONS", "50000", NULL};
    const char *body[] = {"MEMORY_LIMIT_MB", "64", "MAX_BODY_BYTES", "60000000", NULL};
    const char *tiny[] = {"MEMORY_LIMIT_MB", "8", NULL};
    struct na_config c;
    struct na_config_error e;

    (void)state;
    assert_int_equal(load(&c, &e, conns), -1);
    assert_string_equal(e.var, "MAX_CONNECTIONS");
    assert_int_equal(load(&c, &e, body), -1);
    assert_string_equal(e.var, "MAX_BODY_BYTES");
    assert_int_equal(load(&c, &e, tiny), -1);
    assert_string_equal(e.var, "MEMORY_LIMIT_MB");
}

static void test_cgroup_defaults(void **state)
{
    const struct na_sysinfo limited = {.cpus = 1, .memory_limit = 1024 * NA_MIB, .nofile = 65536};
    const char *env[] = {NULL};
    struct na_config c;
    struct na_config_error e;

    (void)state;
    assert_int_equal(na_config_load(&c, fake_get, (void *)env, &limited, &e), 0);
    assert_int_equal(c.threads, 1);
    assert_int_equal(c.budget.limit_bytes, 1024 * NA_MIB);
    assert_true(c.budget.shed_bytes > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_empty_is_unset),
        cmocka_unit_test(test_errors_name_the_variable),
        cmocka_unit_test(test_metrics_port),
        cmocka_unit_test(test_emf_on_ecs),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_budget_errors_name_the_variable),
        cmocka_unit_test(test_cgroup_defaults),
    };

    return RUN(tests);
}
