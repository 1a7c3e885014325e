/*
 * Unit tests for taskmeta: the documented v4 task JSON gives its fields;
 * Family and Revision are required, other members may be absent, wrong
 * types and garbage are refused with a reason; HTTP bodies framed by
 * Content-Length or chunked (as the ECS agent's Go server sends a large
 * one) are read, and a non-200, a cut-short or malformed one is refused.
 */
#include "unit.h"

#include <stdio.h>
#include <string.h>

#include "na/taskmeta.h"

static const char doc[] =
    "{\"Cluster\":\"arn:aws:ecs:us-east-1:123456789012:cluster/node-api\","
    "\"TaskARN\":\"arn:aws:ecs:us-east-1:123456789012:task/node-api/e9028f8d\","
    "\"Family\":\"node-api-task\",\"Revision\":\"7\",\"Limits\":{\"CPU\":0.25},"
    "\"AvailabilityZone\":\"us-east-1b\",\"LaunchType\":\"FARGATE\",\"Containers\":[]}";

static void test_parse(void **state)
{
    struct na_taskmeta m;
    char err[128];

    (void)state;
    assert_int_equal(na_taskmeta_parse(doc, strlen(doc), &m, err, sizeof(err)), 0);
    assert_string_equal(m.cluster, "arn:aws:ecs:us-east-1:123456789012:cluster/node-api");
    assert_string_equal(m.task_arn, "arn:aws:ecs:us-east-1:123456789012:task/node-api/e9028f8d");
    assert_string_equal(m.family, "node-api-task");
    assert_string_equal(m.revision, "7");
    assert_string_equal(m.availability_zone, "us-east-1b");
    assert_string_equal(m.launch_type, "FARGATE");
    assert_int_equal(
        na_taskmeta_parse("{\"Family\":\"f\",\"Revision\":\"1\"}", 30, &m, err, sizeof(err)), 0);
    assert_string_equal(m.cluster, "");
    {
        /* A 255-character cluster name, as ECS allows: its ARN is longer than 256 bytes. */
        char big[1024], name[256];

        memset(name, 'c', 255);
        name[255] = '\0';
        snprintf(big, sizeof(big),
                 "{\"Cluster\":\"arn:aws:ecs:us-east-1:123456789012:cluster/%s\","
                 "\"TaskARN\":\"arn:aws:ecs:us-east-1:123456789012:task/%s/e9028f8d\","
                 "\"Family\":\"f\",\"Revision\":\"1\"}",
                 name, name);
        assert_int_equal(na_taskmeta_parse(big, strlen(big), &m, err, sizeof(err)), 0);
        assert_int_equal(strlen(m.task_arn), 40 + 255 + 9);
    }
}

static void test_parse_refuses(void **state)
{
    static const char *const bad[][2] = {
        {"not json", "not a JSON object"},
        {"[1,2]", "not a JSON object"},
        {"{\"Revision\":\"1\"}", "Family is missing"},
        {"{\"Family\":\"f\"}", "Revision is missing"},
        {"{\"Family\":\"f\",\"Revision\":7}", "Revision is not a string"},
        {"{\"Family\":\"f\",\"Revision\":\"12345678901234567890\"}", "Revision is not a string"},
        {"{\"Family\":\"fa\\\"m\",\"Revision\":\"1\"}", "Family holds characters"},
        {"{\"Family\":\"f\",\"Revision\":\"7a\"}", "Revision is not a number"},
        {"{\"Family\":\"f\",\"Revision\":\"\"}", "Revision is empty"},
        {"{\"Family\":\"f\",\"Revision\":\"1\",\"Cluster\":\"a\\u0001b\"}",
         "Cluster holds characters"},
    };
    struct na_taskmeta m = {.family = "untouched"};
    char err[128];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(na_taskmeta_parse(bad[i][0], strlen(bad[i][0]), &m, err, sizeof(err)), -1);
        assert_non_null(strstr(err, bad[i][1]));
        assert_string_equal(m.family, "untouched");
    }
}

static int body_of(const char *resp, char *out, size_t cap, char *err)
{
    char buf[1024];
    char *body;
    size_t n = strlen(resp), len;

    memcpy(buf, resp, n + 1);
    if (na_taskmeta_http_body(buf, n, &body, &len, err, 128))
        return -1;
    snprintf(out, cap, "%.*s", (int)len, body);
    return 0;
}

static void test_http_framing(void **state)
{
    char out[256], err[128];

    (void)state;
    assert_int_equal(
        body_of("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", out, sizeof(out), err), 0);
    assert_string_equal(out, "hello");
    assert_int_equal(body_of("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;ext=1\r\n:1}\r\n"
                             "0\r\n\r\n",
                             out, sizeof(out), err),
                     0);
    assert_string_equal(out, "{\"a\":1}");
    /* No framing: the close ends it. */
    assert_int_equal(body_of("HTTP/1.0 200 OK\r\n\r\nall of it", out, sizeof(out), err), 0);
    assert_string_equal(out, "all of it");
    assert_int_equal(
        body_of("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", out, sizeof(out), err), -1);
    assert_non_null(strstr(err, "answered 404"));
    assert_int_equal(
        body_of("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort", out, sizeof(out), err), -1);
    assert_non_null(strstr(err, "cut short"));
    assert_int_equal(body_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "10\r\nshort\r\n",
                             out, sizeof(out), err),
                     -1);
    assert_int_equal(body_of("SSH-2.0-OpenSSH\r\n\r\n", out, sizeof(out), err), -1);
    assert_int_equal(body_of("HTTP/1.1 200 OK\r\n", out, sizeof(out), err), -1);
}

static void test_fetch_refuses_bad_uris(void **state)
{
    struct na_taskmeta m;
    char err[128];

    (void)state;
    assert_int_equal(na_taskmeta_fetch("https://169.254.170.2/v4/x", 100, &m, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "http://"));
    assert_int_equal(na_taskmeta_fetch("http://metadata.local/v4/x", 100, &m, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "numeric address"));
    /* A port past 65535 is refused, not wrapped round to another one. */
    assert_int_equal(na_taskmeta_fetch("http://127.0.0.1:99999/v4/x", 100, &m, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "numeric address"));
    /* Nothing listens on port 1: refused at once, not a wait. */
    assert_int_equal(na_taskmeta_fetch("http://127.0.0.1:1/v4/x", 1000, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot connect"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_refuses),
        cmocka_unit_test(test_http_framing),
        cmocka_unit_test(test_fetch_refuses_bad_uris),
    };

    return RUN(tests);
}
