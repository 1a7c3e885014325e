/*
 * Unit tests for log and accesslog: every line is one valid JSON object
 * with the common fields, under concurrency too, and the access line
 * carries what an operator needs.
 */
#include "unit.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "na/accesslog.h"
#include "na/log.h"

static int log_fd = -1;
static char log_path[] = "/tmp/na-test-log-XXXXXX";

static int setup(void **state)
{
    (void)state;
    log_fd = mkstemp(log_path);
    if (log_fd < 0)
        return -1;
    na_log_setup("svc", NA_LOG_INFO, log_fd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    close(log_fd);
    unlink(log_path);
    return 0;
}

/* Reads the log written since the last call, one parsed line per entry. */
static size_t read_lines(cJSON **out, size_t max)
{
    static off_t done;
    char *text, *line, *save = NULL;
    off_t end = lseek(log_fd, 0, SEEK_END);
    size_t n = 0;

    text = calloc(1, (size_t)(end - done) + 1);
    assert_non_null(text);
    assert_int_equal(pread(log_fd, text, (size_t)(end - done), done), end - done);
    done = end;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(line);

        assert_non_null(j); /* every line is valid JSON */
        assert_string_equal(cJSON_GetObjectItem(j, "service")->valuestring, "svc");
        assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "level")));
        assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "message")));
        assert_int_equal(strlen(cJSON_GetObjectItem(j, "timestamp")->valuestring), 24);
        if (n < max)
            out[n] = j;
        else
            cJSON_Delete(j);
        n++;
    }
    free(text);
    return n;
}

static void free_lines(cJSON **lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cJSON_Delete(lines[i]);
}

static void test_fields_and_levels(void **state)
{
    cJSON *lines[4];
    size_t n;

    (void)state;
    na_log(NA_LOG_DEBUG, "hidden");
    na_logf(NA_LOG_INFO, "started", NA_LF_INT("port", 3000), NA_LF_STR("host", "0.0.0.0"),
            NA_LF_BOOL("ok", 1), NA_LF_DBL("ratio", 0.5), NA_LF_STR("none", NULL));
    na_log(NA_LOG_ERROR, "bad \"thing\"\n");
    n = read_lines(lines, 4);
    assert_int_equal(n, 2);
    assert_string_equal(cJSON_GetObjectItem(lines[0], "level")->valuestring, "info");
    assert_int_equal(cJSON_GetObjectItem(lines[0], "port")->valueint, 3000);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(lines[0], "ok")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(lines[0], "none")));
    assert_string_equal(cJSON_GetObjectItem(lines[1], "message")->valuestring, "bad \"thing\"\n");
    free_lines(lines, n);
}

static void test_oversized_line_is_cut_whole(void **state)
{
    char big[5000];
    cJSON *lines[1];

    (void)state;
    memset(big, '\x01', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    na_logf(NA_LOG_WARN, "big", NA_LF_STR("a", big), NA_LF_STR("b", big));
    assert_int_equal(read_lines(lines, 1), 1);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(lines[0], "truncated")));
    assert_string_equal(cJSON_GetObjectItem(lines[0], "message")->valuestring, "big");
    free_lines(lines, 1);
}

static void *writer(void *arg)
{
    for (int i = 0; i < 2000; i++)
        na_logf(NA_LOG_INFO, "line", NA_LF_INT("thread", (intptr_t)arg), NA_LF_INT("i", i));
    return NULL;
}

static void test_async_lines_never_interleave(void **state)
{
    pthread_t t[4];

    (void)state;
    assert_int_equal(na_log_start(), 0);
    for (intptr_t i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer, (void *)i), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    na_log_stop();
    /* Every line parsed (read_lines asserts it), none dropped or merged. */
    assert_int_equal(read_lines(NULL, 0), 8000 - na_log_dropped());
    assert_int_equal(na_log_dropped(), 0);
}

static void test_access_line(void **state)
{
    struct na_access_entry e = {
        .method = "GET",
        .path = "/api/items",
        .status = 200,
        .duration_ms = 0.25,
        .bytes = 144,
        .request_id = "abc",
        .trace_id = "Root=1-2-3",
        .forwarded = " 203.0.113.7 , 10.0.0.1",
        .peer = "10.0.0.2",
        .user_agent = "curl/8",
    };
    cJSON *lines[2];

    (void)state;
    na_access_log(&e);
    e.status = 503;
    e.forwarded = NULL;
    e.trace_id = NULL;
    na_access_log(&e);
    assert_int_equal(read_lines(lines, 2), 2);
    assert_string_equal(cJSON_GetObjectItem(lines[0], "level")->valuestring, "info");
    assert_string_equal(cJSON_GetObjectItem(lines[0], "method")->valuestring, "GET");
    assert_string_equal(cJSON_GetObjectItem(lines[0], "path")->valuestring, "/api/items");
    assert_int_equal(cJSON_GetObjectItem(lines[0], "status")->valueint, 200);
    assert_int_equal(cJSON_GetObjectItem(lines[0], "bytes")->valueint, 144);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(lines[0], "duration_ms")));
    assert_string_equal(cJSON_GetObjectItem(lines[0], "request_id")->valuestring, "abc");
    assert_string_equal(cJSON_GetObjectItem(lines[0], "trace_id")->valuestring, "Root=1-2-3");
    assert_string_equal(cJSON_GetObjectItem(lines[0], "client")->valuestring, "203.0.113.7");
    assert_string_equal(cJSON_GetObjectItem(lines[0], "user_agent")->valuestring, "curl/8");
    /* Server errors are logged at level error. */
    assert_string_equal(cJSON_GetObjectItem(lines[1], "level")->valuestring, "error");
    assert_string_equal(cJSON_GetObjectItem(lines[1], "client")->valuestring, "10.0.0.2");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(lines[1], "trace_id")));
    free_lines(lines, 2);
}

static void test_sampling(void **state)
{
    int hits = 0;

    (void)state;
    for (int i = 0; i < 100000; i++)
        hits += na_access_sampled(0.25);
    /* 14 standard deviations either side: never flaky, still a real check. */
    assert_true(hits > 23000 && hits < 27000);
    assert_true(na_access_sampled(1.0));
    assert_false(na_access_sampled(0.0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_and_levels),
        cmocka_unit_test(test_oversized_line_is_cut_whole),
        cmocka_unit_test(test_async_lines_never_interleave),
        cmocka_unit_test(test_access_line),
        cmocka_unit_test(test_sampling),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
