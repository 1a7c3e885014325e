/*
 * Unit tests for emf: a line's members parse as JSON with the directive
 * the specification asks for (namespace, dimension sets naming root
 * members, each metric defined once with its unit and present at the root
 * as a number or an array of at most 100 numbers); the counts are the
 * interval's; Latency follows the histogram (its median in the median's
 * bucket, at most 100 values, none without requests); task_revision adds a
 * dimension set.
 */
#include "unit.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "na/emf.h"

static cJSON *line(const char *task_revision, const struct na_emf_values *v)
{
    static char storage[8192];
    struct na_buf b;
    char doc[8300];
    cJSON *root;

    na_buf_init(&b, storage, sizeof(storage));
    na_emf_write(&b, "node-api", task_revision, 1796228728000, 60.0, v);
    assert_false(b.truncated);
    /* The log writes the common fields first: a service member stands in for them. */
    snprintf(doc, sizeof(doc), "{\"service\":\"node-api\"%s}", storage);
    root = cJSON_Parse(doc);
    assert_non_null(root);
    return root;
}

static double num(cJSON *root, const char *name)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);

    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static void test_directive(void **state)
{
    struct na_emf_values v = {.requests = 10, .errors_5xx = 2, .connections = 3};
    cJSON *root, *aws, *d, *m;

    (void)state;
    v.latency[3] = 10; /* 0.5 to 1 ms */
    root = line(NULL, &v);
    aws = cJSON_GetObjectItemCaseSensitive(root, "_aws");
    assert_true(num(aws, "Timestamp") == 1796228728000.0);
    d = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(aws, "CloudWatchMetrics"), 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(d, "Namespace")->valuestring, "node-api");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(d, "Dimensions")), 1);
    m = cJSON_GetObjectItemCaseSensitive(d, "Metrics");
    assert_int_equal(cJSON_GetArraySize(m), 9);
    for (int i = 0; i < cJSON_GetArraySize(m); i++) {
        const char *name =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(m, i), "Name")->valuestring;
        cJSON *at = cJSON_GetObjectItemCaseSensitive(root, name);

        assert_true(cJSON_IsNumber(at) || cJSON_IsArray(at));
    }
    assert_true(num(root, "Requests") == 10);
    assert_true(num(root, "Errors5xx") == 2);
    assert_true(num(root, "Connections") == 3);
    assert_true(num(root, "interval_s") == 60);
    {
        cJSON *lat = cJSON_GetObjectItemCaseSensitive(root, "Latency");

        assert_int_equal(cJSON_GetArraySize(lat), 10); /* one per request, up to 100 */
        for (int i = 0; i < 10; i++) {
            double ms = cJSON_GetArrayItem(lat, i)->valuedouble;

            assert_true(ms >= 0.5 && ms <= 1.0);
        }
    }
    cJSON_Delete(root);
}

static void test_latency_distribution(void **state)
{
    struct na_emf_values v = {.requests = 100000};
    cJSON *root, *lat;
    int below = 0;

    (void)state;
    v.latency[0] = 90000; /* under 0.1 ms */
    v.latency[9] = 9000;  /* 50 to 100 ms */
    v.latency[16] = 1000; /* over 10 s */
    root = line("node-api-task:7", &v);
    lat = cJSON_GetObjectItemCaseSensitive(root, "Latency");
    assert_int_equal(cJSON_GetArraySize(lat), 100);
    for (int i = 0; i < 100; i++) {
        double ms = cJSON_GetArrayItem(lat, i)->valuedouble;

        below += ms <= 0.1;
        if (i >= 90 && i < 99)
            assert_true(ms >= 50 && ms <= 100);
    }
    assert_int_equal(below, 90);
    assert_true(cJSON_GetArrayItem(lat, 99)->valuedouble == 10000); /* the last bound */
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(root, "task_revision")->valuestring,
                        "node-api-task:7");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
                         cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
                                                cJSON_GetObjectItemCaseSensitive(root, "_aws"),
                                                "CloudWatchMetrics"),
                                            0),
                         "Dimensions")),
                     2);
    cJSON_Delete(root);
}

static void test_no_requests_no_latency(void **state)
{
    struct na_emf_values v = {0};
    cJSON *root;

    (void)state;
    root = line(NULL, &v);
    assert_null(cJSON_GetObjectItemCaseSensitive(root, "Latency"));
    assert_true(num(root, "Requests") == 0);
    {
        char *aws = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(root, "_aws"));

        assert_null(strstr(aws, "Latency")); /* not defined either */
        cJSON_free(aws);
    }
    cJSON_Delete(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_directive),
        cmocka_unit_test(test_latency_distribution),
        cmocka_unit_test(test_no_requests_no_latency),
    };

    return RUN(tests);
}
