/*
 * Unit tests for trace: a valid traceparent gives its trace id; the ALB's
 * X-Amzn-Trace-Id root maps to the same 32 digits; traceparent wins when
 * both are valid; every malformed form is ignored (W3C Trace Context's
 * rules: lower-case hex, ids not all zeros, version ff refused, version 00
 * exactly 55 characters).
 */
#include "unit.h"

#include <string.h>

#include "na/trace.h"

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static void test_traceparent(void **state)
{
    char id[NA_TRACE_ID_LEN + 1] = "untouched";

    (void)state;
    assert_true(na_trace_id(TP, NULL, id));
    assert_string_equal(id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_true(na_trace_id("  " TP "\t", NULL, id)); /* optional whitespace */
    /* A later version may carry more fields. */
    assert_true(
        na_trace_id("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what", NULL, id));
    assert_string_equal(id, "4bf92f3577b34da6a3ce929d0e0e4736");
}

static void test_traceparent_malformed(void **state)
{
    static const char *const bad[] = {
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",          /* no flags */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",       /* upper case */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",       /* zero trace */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",       /* zero parent */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",       /* version ff */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", /* 00 is exact */
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",      /* no dash */
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",       /* separators */
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",       /* not hex */
        "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",        /* short */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",        /* short flags */
    };
    char id[NA_TRACE_ID_LEN + 1] = "untouched";

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(na_trace_id(bad[i], NULL, id));
        assert_string_equal(id, "untouched"); /* set only on success */
    }
}

static void test_amzn(void **state)
{
    char id[NA_TRACE_ID_LEN + 1];

    (void)state;
    assert_true(na_trace_id(NULL, "Root=1-5759e988-bd862e3fe1be46a994272793", id));
    assert_string_equal(id, "5759e988bd862e3fe1be46a994272793");
    assert_true(na_trace_id(
        NULL,
        "Self=1-67891234-12456789abcdef012345678;Root=1-5759e988-bd862e3fe1be46a994272793;"
        "Parent=53995c3f42cd8ad8;Sampled=1",
        id));
    assert_string_equal(id, "5759e988bd862e3fe1be46a994272793");
    /* A malformed traceparent falls back to the ALB's root. */
    assert_true(na_trace_id("garbage", "Root=1-5759e988-bd862e3fe1be46a994272793", id));
    assert_string_equal(id, "5759e988bd862e3fe1be46a994272793");
    /* Both valid: the client's W3C context is the trace the caller started. */
    assert_true(na_trace_id(TP, "Root=1-5759e988-bd862e3fe1be46a994272793", id));
    assert_string_equal(id, "4bf92f3577b34da6a3ce929d0e0e4736");
}

static void test_amzn_malformed(void **state)
{
    static const char *const bad[] = {
        "Root=1-5f84c7a9-abc",                       /* short */
        "Root=2-5759e988-bd862e3fe1be46a994272793",  /* version */
        "root=1-5759e988-bd862e3fe1be46a994272793",  /* key case */
        "Root=1-5759E988-bd862e3fe1be46a994272793",  /* upper case */
        "Root=1-5759e988-bd862e3fe1be46a9942727931", /* long */
        "Root=1-00000000-000000000000000000000000",  /* zeros */
        "Parent=53995c3f42cd8ad8;Sampled=1",         /* no root */
        "Self=1-5759e988-bd862e3fe1be46a994272793",  /* not the root */
    };
    char id[NA_TRACE_ID_LEN + 1] = "untouched";

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(na_trace_id(NULL, bad[i], id));
    assert_false(na_trace_id(NULL, NULL, id));
    assert_string_equal(id, "untouched");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traceparent),
        cmocka_unit_test(test_traceparent_malformed),
        cmocka_unit_test(test_amzn),
        cmocka_unit_test(test_amzn_malformed),
    };

    return RUN(tests);
}
