/*
 * Unit tests for router: path matching, parameters, methods and Allow.
 */
#include "unit.h"

#include <string.h>

#include "na/router.h"

static enum na_route route_of(const char *path, bool loadtest)
{
    struct na_match m;

    na_router_match(path, loadtest, &m);
    return m.route;
}

static void test_tutorial_routes(void **state)
{
    (void)state;
    assert_int_equal(route_of("/health", false), NA_ROUTE_HEALTH);
    assert_int_equal(route_of("/health/detailed", false), NA_ROUTE_HEALTH_DETAILED);
    assert_int_equal(route_of("/api/info", false), NA_ROUTE_INFO);
    assert_int_equal(route_of("/api/items", false), NA_ROUTE_ITEMS);
}

static void test_express_leniency(void **state)
{
    (void)state;
    /* Express's defaults: case-insensitive, one trailing slash ignored. */
    assert_int_equal(route_of("/HEALTH", false), NA_ROUTE_HEALTH);
    assert_int_equal(route_of("/Api/Items/", false), NA_ROUTE_ITEMS);
    assert_int_equal(route_of("/health//", false), NA_ROUTE_NONE);
    assert_int_equal(route_of("/healthz", false), NA_ROUTE_NONE);
    assert_int_equal(route_of("/health/", false), NA_ROUTE_HEALTH);
    assert_int_equal(route_of("//health", false), NA_ROUTE_NONE);
    assert_int_equal(route_of("/api/../health", false), NA_ROUTE_NONE);
    assert_int_equal(route_of("", false), NA_ROUTE_NONE);
    assert_int_equal(route_of("/", false), NA_ROUTE_NONE);
    assert_int_equal(route_of("/api", false), NA_ROUTE_NONE);
}

static void test_params_and_loadtest_gate(void **state)
{
    struct na_match m;

    (void)state;
    assert_int_equal(route_of("/api/delay/100", false), NA_ROUTE_NONE);
    na_router_match("/api/delay/250", true, &m);
    assert_int_equal(m.route, NA_ROUTE_DELAY);
    assert_int_equal(m.param_len, 3);
    assert_memory_equal(m.param, "250", 3);
    na_router_match("/api/status/503/", true, &m);
    assert_int_equal(m.route, NA_ROUTE_STATUS);
    assert_int_equal(m.param_len, 3);
    /* /metrics only where it is switched on (METRICS_PORT=PORT, or the metrics port). */
    na_router_match("/metrics", NA_ROUTER_LOADTEST, &m);
    assert_int_equal(m.route, NA_ROUTE_NONE);
    na_router_match("/metrics", NA_ROUTER_METRICS, &m);
    assert_int_equal(m.route, NA_ROUTE_METRICS);
    na_router_match("/metrics/", NA_ROUTER_METRICS, &m);
    assert_int_equal(m.route, NA_ROUTE_METRICS);
    na_router_match("/Metrics", NA_ROUTER_METRICS, &m);
    assert_int_equal(m.route, NA_ROUTE_NONE);
    na_router_match("/api/delay/1", NA_ROUTER_METRICS, &m);
    assert_int_equal(m.route, NA_ROUTE_NONE);
    assert_int_equal(route_of("/api/delay/", true), NA_ROUTE_NONE);
    assert_int_equal(route_of("/api/delay/1/2", true), NA_ROUTE_NONE);
}

/* Metrics label routes by template and methods by name: bounded whatever the path. */
static void test_templates_and_method_names(void **state)
{
    (void)state;
    assert_string_equal(na_router_template(NA_ROUTE_ITEM), "/api/items/{id}");
    assert_string_equal(na_router_template(NA_ROUTE_NONE), "unmatched");
    assert_string_equal(na_router_template(NA_ROUTE_METRICS), "/metrics");
    assert_string_equal(na_router_template((enum na_route)99), "unmatched");
    for (unsigned r = 0; r <= NA_ROUTE_LAST_; r++)
        assert_non_null(na_router_template((enum na_route)r));
    assert_int_equal(na_method_index(NA_METHOD_GET), 0);
    assert_int_equal(na_method_index(NA_METHOD_OPTIONS), 6);
    assert_int_equal(na_method_index(NA_METHOD_OTHER), 7);
    assert_string_equal(na_method_name(na_method_index(na_method_parse("DELETE"))), "DELETE");
    assert_string_equal(na_method_name(na_method_index(na_method_parse("BREW"))), "OTHER");
}

static void test_methods(void **state)
{
    struct na_match m;
    char allow[64];

    (void)state;
    assert_int_equal(na_method_parse("GET"), NA_METHOD_GET);
    assert_int_equal(na_method_parse("HEAD"), NA_METHOD_HEAD);
    assert_int_equal(na_method_parse("get"), NA_METHOD_OTHER);
    assert_int_equal(na_method_parse("BREW"), NA_METHOD_OTHER);
    na_router_match("/api/info", false, &m);
    assert_true(m.methods & NA_METHOD_GET);
    assert_true(m.methods & NA_METHOD_HEAD);
    assert_false(m.methods & NA_METHOD_POST);
    na_router_allow(m.methods, allow, sizeof(allow));
    assert_string_equal(allow, "GET, HEAD, OPTIONS");
    na_router_match("/api/items", false, &m);
    na_router_allow(m.methods, allow, sizeof(allow));
    assert_string_equal(allow, "GET, HEAD, POST, OPTIONS");
    na_router_match("/api/items/7", false, &m);
    assert_int_equal(m.route, NA_ROUTE_ITEM);
    assert_memory_equal(m.param, "7", 1);
    na_router_allow(m.methods, allow, sizeof(allow));
    assert_string_equal(allow, "GET, HEAD, PUT, DELETE, OPTIONS");
    na_router_allow(NA_METHOD_GET | NA_METHOD_POST | NA_METHOD_DELETE, allow, 12);
    assert_string_equal(allow, "GET, POST");
}

static void test_unescape(void **state)
{
    char a[] = "/api/item%73%2F7%2f8", b[] = "/health%00.json", c[] = "%zz%4%41%61", d[] = "%";
    struct na_match m;

    (void)state;
    /* %2F is never decoded: it would make a path separator of a character. */
    assert_int_equal(na_router_unescape(a), 18);
    assert_string_equal(a, "/api/items%2F7%2f8");
    na_router_match(a, false, &m);
    assert_int_equal(m.route, NA_ROUTE_NONE);
    /* %00 is never decoded: it would cut the path. */
    assert_int_equal(na_router_unescape(b), 15);
    assert_string_equal(b, "/health%00.json");
    assert_int_equal(na_router_unescape(c), 7);
    assert_string_equal(c, "%zz%4Aa");
    assert_int_equal(na_router_unescape(d), 1);
}

static void test_raw_path(void **state)
{
    struct na_match m;

    (void)state;
    /* Literal segments never decode, as in Express. */
    na_router_match("/%61pi/items/1", false, &m);
    assert_int_equal(m.route, NA_ROUTE_NONE);
    na_router_match("/api/item%73", false, &m);
    assert_int_equal(m.route, NA_ROUTE_NONE);
    /* The parameter does. */
    na_router_match("/api/items/%31%32", false, &m);
    assert_int_equal(m.route, NA_ROUTE_ITEM);
    assert_int_equal(m.param_len, 2);
    assert_memory_equal(m.param, "12", 2);
    /* But never into a separator or a NUL. */
    na_router_match("/api/items/1%2F2", false, &m);
    assert_int_equal(m.route, NA_ROUTE_ITEM);
    assert_int_equal(m.param_len, 5);
    assert_memory_equal(m.param, "1%2F2", 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_path),
        cmocka_unit_test(test_tutorial_routes),
        cmocka_unit_test(test_express_leniency),
        cmocka_unit_test(test_params_and_loadtest_gate),
        cmocka_unit_test(test_templates_and_method_names),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_unescape),
    };

    return RUN(tests);
}
