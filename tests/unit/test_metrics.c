/*
 * Unit tests for metrics: requests counted by method, route template and
 * status; latency in the right buckets, cumulative, with _count equal to
 * the requests; threads recording at once lose nothing; statuses outside
 * 200..599 count as aborted; the text writer escapes labels, and
 * OpenMetrics names counters' families without _total and ends in # EOF;
 * the Accept header's choice.
 */
#include "unit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "na/metrics.h"

static char *render(struct na_metrics *m, bool om)
{
    size_t len;
    char *text = na_metrics_render(m, om, &len);

    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

/* The value of the sample line that starts with `prefix` (name and labels); -1 if none. */
static double sample(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);

    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (!strncmp(p, prefix, n) && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    }
    return -1;
}

static void test_requests_by_route_and_status(void **state)
{
    struct na_metrics *m = na_metrics_new();
    char *text;

    (void)state;
    assert_non_null(m);
    for (int i = 0; i < 3; i++)
        na_metrics_request(m, NA_ROUTE_ITEM, NA_METHOD_GET, 200, 50000);
    na_metrics_request(m, NA_ROUTE_ITEM, NA_METHOD_GET, 404, 300000);
    na_metrics_request(m, NA_ROUTE_ITEMS, NA_METHOD_POST, 201, 2000000000ull);
    na_metrics_request(m, NA_ROUTE_NONE, NA_METHOD_OTHER, 404, 1);
    na_metrics_request(m, NA_ROUTE_ITEM, NA_METHOD_GET, 0, 1);   /* no answer */
    na_metrics_request(m, NA_ROUTE_ITEM, NA_METHOD_GET, 600, 1); /* none such */
    text = render(m, false);
    assert_true(
        sample(text,
               "http_requests_total{method=\"GET\",route=\"/api/items/{id}\",status=\"200\"}") ==
        3);
    assert_true(
        sample(text,
               "http_requests_total{method=\"GET\",route=\"/api/items/{id}\",status=\"404\"}") ==
        1);
    assert_true(
        sample(text, "http_requests_total{method=\"POST\",route=\"/api/items\",status=\"201\"}") ==
        1);
    assert_true(
        sample(text, "http_requests_total{method=\"OTHER\",route=\"unmatched\",status=\"404\"}") ==
        1);
    /* Pairs never answered have no series at all. */
    assert_null(strstr(text, "method=\"PUT\""));
    assert_true(sample(text, "node_api_requests_aborted_total") == 2);
    /* Cumulative buckets: 50 us fall in the first, 300 us from 0.0005 on, 2 s from 2.5. */
    assert_true(sample(text, "http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/"
                             "items/{id}\",le=\"0.0001\"}") == 3);
    assert_true(sample(text, "http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/"
                             "items/{id}\",le=\"0.00025\"}") == 3);
    assert_true(sample(text, "http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/"
                             "items/{id}\",le=\"0.0005\"}") == 4);
    assert_true(sample(text, "http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/"
                             "items/{id}\",le=\"+Inf\"}") == 4);
    assert_true(sample(text, "http_request_duration_seconds_count{method=\"GET\",route=\"/api/"
                             "items/{id}\"}") == 4);
    assert_true(sample(text, "http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/"
                             "items\",le=\"1\"}") == 0);
    assert_true(sample(text, "http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/"
                             "items\",le=\"2.5\"}") == 1);
    assert_true(sample(text, "http_request_duration_seconds_sum{method=\"POST\",route=\"/api/"
                             "items\"}") == 2.0);
    free(text);
    na_metrics_free(m);
}

/* A bound itself belongs to its bucket (le: less than or equal). */
static void test_bucket_bounds_inclusive(void **state)
{
    struct na_metrics *m = na_metrics_new();
    char *text;

    (void)state;
    na_metrics_request(m, NA_ROUTE_HEALTH, NA_METHOD_GET, 200, 1000000); /* exactly 1 ms */
    text = render(m, false);
    assert_true(sample(text, "http_request_duration_seconds_bucket{method=\"GET\",route=\"/"
                             "health\",le=\"0.0005\"}") == 0);
    assert_true(sample(text, "http_request_duration_seconds_bucket{method=\"GET\",route=\"/"
                             "health\",le=\"0.001\"}") == 1);
    free(text);
    na_metrics_free(m);
}

static struct na_metrics *shared;

static void *record(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++) {
        na_metrics_request(shared, NA_ROUTE_ITEMS, NA_METHOD_GET, 200, (uint64_t)i);
        na_metrics_count(shared, NA_EV_SHED_MEMORY);
    }
    return NULL;
}

static void test_threads_lose_nothing(void **state)
{
    pthread_t t[4];
    char *text;

    (void)state;
    shared = na_metrics_new();
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, record, NULL), 0);
    /* Scrapes while they record: each sees a whole exposition. */
    for (int i = 0; i < 20; i++)
        free(render(shared, false));
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    text = render(shared, false);
    assert_true(
        sample(text, "http_requests_total{method=\"GET\",route=\"/api/items\",status=\"200\"}") ==
        400000);
    assert_true(sample(text, "node_api_requests_shed_total{reason=\"memory\"}") == 400000);
    assert_true(sample(text, "node_api_requests_shed_total{reason=\"body_pool\"}") == 0);
    free(text);
    na_metrics_free(shared);
}

static void source(struct na_metrics_writer *w, void *cls)
{
    char v[64], labels[96];

    na_metrics_escape(cls, v, sizeof(v));
    snprintf(labels, sizeof(labels), "version=\"%s\"", v);
    na_metrics_family(w, "test_info", NA_METRIC_GAUGE, "A source's family.");
    na_metrics_sample(w, "test_info", labels, 1);
    na_metrics_counter(w, "test_events_total", "Counted elsewhere.", 7);
}

static void test_sources_and_formats(void **state)
{
    struct na_metrics *m = na_metrics_new();
    char *text;

    (void)state;
    assert_int_equal(na_metrics_add_source(m, source, "a\"b\\c\nd"), 0);
    text = render(m, false);
    assert_non_null(strstr(text, "test_info{version=\"a\\\"b\\\\c\\nd\"} 1\n"));
    assert_non_null(strstr(text, "# TYPE test_events_total counter\ntest_events_total 7\n"));
    assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\n"));
    assert_null(strstr(text, "# EOF"));
    free(text);
    text = render(m, true);
    assert_non_null(strstr(text, "# TYPE test_events counter\ntest_events_total 7\n"));
    assert_non_null(strstr(text, "# TYPE process_cpu_seconds counter\n"));
    assert_int_equal(strcmp(text + strlen(text) - 6, "# EOF\n"), 0);
    free(text);
    for (int i = 1; i < NA_METRICS_SOURCES_MAX; i++)
        assert_int_equal(na_metrics_add_source(m, source, "x"), 0);
    assert_int_equal(na_metrics_add_source(m, source, "x"), -1);
    na_metrics_free(m);
}

static void test_accept(void **state)
{
    (void)state;
    /* What Prometheus 2.42 sends. */
    assert_true(na_metrics_wants_openmetrics(
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
        "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"));
    assert_true(na_metrics_wants_openmetrics("Application/OpenMetrics-Text; q=0.5"));
    assert_false(na_metrics_wants_openmetrics(NULL));
    assert_false(na_metrics_wants_openmetrics("text/plain"));
    assert_false(na_metrics_wants_openmetrics("*/*"));
    assert_false(na_metrics_wants_openmetrics("application/openmetrics-text;q=0"));
    assert_false(na_metrics_wants_openmetrics("application/openmetrics-text; q=0.000, text/plain"));
    assert_false(na_metrics_wants_openmetrics("application/openmetrics"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests_by_route_and_status),
        cmocka_unit_test(test_bucket_bounds_inclusive),
        cmocka_unit_test(test_threads_lose_nothing),
        cmocka_unit_test(test_sources_and_formats),
        cmocka_unit_test(test_accept),
    };

    return RUN(tests);
}
