/*
 * Unit tests for encode: the tutorial's bodies, field for field and type
 * for type, and exact prices.
 */
#include "unit.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "na/encode.h"

static void test_price(void **state)
{
    static const struct {
        int64_t cents;
        const char *text;
    } cases[] = {
        {2999, "29.99"}, {4999, "49.99"},
        {1999, "19.99"}, {3050, "30.5"},
        {3000, "30"},    {0, "0"},
        {5, "0.05"},     {-5, "-0.05"},
        {100, "1"},      {123456789012, "1234567890.12"},
    };
    char out[32];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        na_encode_price(cases[i].cents, out);
        assert_string_equal(out, cases[i].text);
    }
}

static void test_items_is_the_tutorial_body(void **state)
{
    const struct na_item items[] = {
        {.id = 1, .name = "Widget A", .price_cents = 2999},
        {.id = 2, .name = "Widget B", .price_cents = 4999},
        {.id = 3, .name = "Widget C", .price_cents = 1999},
    };
    size_t len;
    char *body = na_encode_items(items, 3, &len);

    (void)state;
    assert_non_null(body);
    /* Byte for byte what Express's res.json() sends for the tutorial's array. */
    assert_string_equal(body, "{\"items\":[{\"id\":1,\"name\":\"Widget A\",\"price\":29.99},"
                              "{\"id\":2,\"name\":\"Widget B\",\"price\":49.99},"
                              "{\"id\":3,\"name\":\"Widget C\",\"price\":19.99}],\"count\":3}");
    assert_int_equal(len, strlen(body));
    free(body);
    body = na_encode_items(NULL, 0, &len);
    assert_string_equal(body, "{\"items\":[],\"count\":0}");
    free(body);
}

static void test_ids_are_exact(void **state)
{
    const struct na_item items[] = {
        {.id = INT64_C(5000000000000001), .name = "a", .price_cents = 1},
        {.id = INT64_C(9007199254740993), .name = "b", .price_cents = 2},
        {.id = INT64_MAX, .name = "c", .price_cents = 3},
    };
    size_t len;
    char *body = na_encode_item(&items[0], &len);

    (void)state;
    assert_string_equal(body, "{\"id\":5000000000000001,\"name\":\"a\",\"price\":0.01}");
    free(body);
    body = na_encode_items(items, 3, &len);
    assert_string_equal(body, "{\"items\":[{\"id\":5000000000000001,\"name\":\"a\",\"price\":0.01},"
                              "{\"id\":9007199254740993,\"name\":\"b\",\"price\":0.02},"
                              "{\"id\":9223372036854775807,\"name\":\"c\",\"price\":0.03}],"
                              "\"count\":3}");
    free(body);
}

static void test_info(void **state)
{
    size_t len;
    char *body = na_encode_info("node-api", "1.0.0", "production", "ip-10-0-1-23", NULL, &len);

    (void)state;
    assert_string_equal(body, "{\"service\":\"node-api\",\"version\":\"1.0.0\","
                              "\"environment\":\"production\",\"hostname\":\"ip-10-0-1-23\"}");
    free(body);
}

static void test_health_types(void **state)
{
    char storage[NA_ENCODE_SMALL_MAX];
    struct na_buf b;
    cJSON *j;

    (void)state;
    na_buf_init(&b, storage, sizeof(storage));
    na_encode_health(&b, "healthy", "host\"x", 12.0, 1795721193402, NULL);
    j = cJSON_Parse(b.data);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "status")->valuestring, "healthy");
    assert_string_equal(cJSON_GetObjectItem(j, "hostname")->valuestring, "host\"x");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(j, "uptime")));
    /* The uptime is a float even when whole; the timestamp an integer. */
    assert_non_null(strstr(b.data, "\"uptime\":12.000,"));
    assert_non_null(strstr(b.data, "\"timestamp\":1795721193402}"));
    cJSON_Delete(j);
}

static void test_error_shape(void **state)
{
    char storage[NA_ENCODE_SMALL_MAX];
    struct na_buf b;

    (void)state;
    na_buf_init(&b, storage, sizeof(storage));
    na_encode_error(&b, 404, "no route for GET /\"x\"");
    assert_string_equal(b.data, "{\"error\":{\"status\":404,\"message\":\"no route for GET "
                                "/\\\"x\\\"\"}}");
}

static void test_health_detailed(void **state)
{
    struct na_health_report r = {
        .status = "unhealthy",
        .hostname = "h",
        .version = "1.0.0",
        .uptime_s = 1.5,
        .timestamp_ms = 1,
        .in_flight = 2,
        .connections = 3,
        .max_connections = 100,
        .store = {.backend = "memory", .items = 3},
        .store_ok = true,
        .memory_ok = false,
        .rss_bytes = 5000000,
        .limit_bytes = 0,
        .shed_bytes = 0,
    };
    size_t len;
    char *body = na_encode_health_detailed(&r, &len);
    cJSON *j = cJSON_Parse(body), *checks, *mem;

    (void)state;
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "status")->valuestring, "unhealthy");
    checks = cJSON_GetObjectItem(j, "checks");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(checks, "store"), "status")->valuestring, "pass");
    mem = cJSON_GetObjectItem(checks, "memory");
    assert_string_equal(cJSON_GetObjectItem(mem, "status")->valuestring, "fail");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(mem, "limit_bytes")));
    assert_int_equal(cJSON_GetObjectItem(j, "in_flight")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "connections"), "open")->valueint,
                     3);
    cJSON_Delete(j);
    free(body);
}

/* Found by fuzzing: a message of invalid UTF-8 once overflowed the body and cut "}}". */
static void test_error_body_always_valid(void **state)
{
    char storage[NA_ENCODE_SMALL_MAX], msg[600];
    struct na_buf b;
    cJSON *j;

    (void)state;
    memset(msg, 0xff, sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    na_buf_init(&b, storage, sizeof(storage));
    na_encode_error(&b, 404, msg);
    j = cJSON_Parse(b.data);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "status")->valueint, 404);
    cJSON_Delete(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_price),
        cmocka_unit_test(test_items_is_the_tutorial_body),
        cmocka_unit_test(test_ids_are_exact),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_health_types),
        cmocka_unit_test(test_error_shape),
        cmocka_unit_test(test_error_body_always_valid),
        cmocka_unit_test(test_health_detailed),
    };

    return RUN(tests);
}
