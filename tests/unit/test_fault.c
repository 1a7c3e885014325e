/*
 * Unit tests for fault: FAULT_ERROR_PERCENT and FAULT_DELAY_MS as parsed,
 * the headers' bounds, and the share of requests the random bits select.
 */
#include "unit.h"

#include <string.h>

#include "na/fault.h"

static void test_parse_percent(void **state)
{
    static const struct {
        const char *v;
        uint32_t ppm;
    } good[] = {
        {"0", 0},      {"100", 1000000},    {"2.5", 25000},
        {"0.0001", 1}, {"33.3333", 333333}, {"50", 500000},
    };
    static const char *const bad[] = {"",   "-1",      "100.0001", "101", "abc", "1e2",  " 5",
                                      "5 ", "0.00001", "nan",      "inf", ".5",  "1..2", "+3"};
    uint32_t ppm;

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ppm = 12345;
        assert_int_equal(na_fault_parse_percent(good[i].v, &ppm), 0);
        assert_int_equal(ppm, good[i].ppm);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ppm = 12345;
        assert_int_equal(na_fault_parse_percent(bad[i], &ppm), -1);
        assert_int_equal(ppm, 12345); /* untouched */
    }
}

static void test_parse_delay(void **state)
{
    static const struct {
        const char *v;
        unsigned min, max;
    } good[] = {
        {"0", 0, 0}, {"100-200", 100, 200}, {"50", 50, 50}, {"0-30000", 0, 30000}, {"7-7", 7, 7},
    };
    static const char *const bad[] = {"",    "200-100", "30001", "0-30001", "-5",    "5-",
                                      "a-b", "1-2-3",   "1.5",   " 1-2",    "1 - 2", "99999999999"};
    unsigned min, max;

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(na_fault_parse_delay(good[i].v, &min, &max), 0);
        assert_int_equal(min, good[i].min);
        assert_int_equal(max, good[i].max);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        min = max = 77;
        assert_int_equal(na_fault_parse_delay(bad[i], &min, &max), -1);
        assert_int_equal(min, 77);
        assert_int_equal(max, 77);
    }
}

static void test_headers(void **state)
{
    struct na_fault_config none = {0};
    struct na_fault f;
    char msg[160];

    (void)state;
    assert_int_equal(na_fault_decide(&none, NULL, NULL, 0, &f, msg, sizeof(msg)), 0);
    assert_int_equal(f.status, 0);
    assert_int_equal(f.delay_ms, 0);

    assert_int_equal(na_fault_decide(&none, "503", NULL, 0, &f, msg, sizeof(msg)), 0);
    assert_int_equal(f.status, 503);
    assert_true(f.by_header);
    assert_int_equal(na_fault_decide(&none, "400", "30000", 0, &f, msg, sizeof(msg)), 0);
    assert_int_equal(f.status, 400);
    assert_int_equal(f.delay_ms, 30000);
    assert_int_equal(na_fault_decide(&none, NULL, "0", 0, &f, msg, sizeof(msg)), 0);
    assert_int_equal(f.delay_ms, 0);
    /* Whitespace after a value is not part of it (RFC 9110 5.5). */
    assert_int_equal(na_fault_decide(&none, "502 \t", "7 ", 0, &f, msg, sizeof(msg)), 0);
    assert_int_equal(f.status, 502);
    assert_int_equal(f.delay_ms, 7);

    static const char *const bad_status[] = {"200",  "399",  "600",  "abc",  "",
                                             "5000", "50 3", "-500", "503.0"};
    for (size_t i = 0; i < sizeof(bad_status) / sizeof(bad_status[0]); i++) {
        f.status = 1;
        msg[0] = '\0';
        assert_int_equal(na_fault_decide(&none, bad_status[i], NULL, 0, &f, msg, sizeof(msg)), 400);
        assert_non_null(strstr(msg, "X-Fault-Status"));
        assert_int_equal(f.status, 1);
    }
    static const char *const bad_delay[] = {"30001", "-1", "x", "", "1.5", "99999999999"};
    for (size_t i = 0; i < sizeof(bad_delay) / sizeof(bad_delay[0]); i++) {
        msg[0] = '\0';
        assert_int_equal(na_fault_decide(&none, NULL, bad_delay[i], 0, &f, msg, sizeof(msg)), 400);
        assert_non_null(strstr(msg, "X-Fault-Delay-Ms"));
    }
}

/* The configured share is what the random bits select, and both 500 and 503 come up. */
static void test_configured_share(void **state)
{
    struct na_fault_config cfg = {.error_ppm = 250000, .delay_min_ms = 10, .delay_max_ms = 20};
    unsigned errors = 0, s500 = 0, s503 = 0, dmin = 100, dmax = 0;
    struct na_fault f;
    char msg[160];
    const unsigned n = 100000;

    (void)state;
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(na_fault_decide(&cfg, NULL, NULL, na_fault_random(), &f, msg, sizeof(msg)),
                         0);
        assert_false(f.by_header);
        if (f.status) {
            errors++;
            s500 += f.status == 500;
            s503 += f.status == 503;
        }
        dmin = f.delay_ms < dmin ? f.delay_ms : dmin;
        dmax = f.delay_ms > dmax ? f.delay_ms : dmax;
    }
    assert_int_equal(s500 + s503, errors);
    /* 25,000 expected; the binomial's sd is 137: 10 sd either way. */
    assert_in_range(errors, 23630, 26370);
    assert_in_range(s500, errors / 2 - 1000, errors / 2 + 1000);
    assert_int_equal(dmin, 10);
    assert_int_equal(dmax, 20);

    /* Headers win: a status asked for is answered whatever the share, and so is a delay. */
    cfg.error_ppm = 1000000;
    assert_int_equal(na_fault_decide(&cfg, "429", "0", na_fault_random(), &f, msg, sizeof(msg)), 0);
    assert_int_equal(f.status, 429);
    assert_int_equal(f.delay_ms, 0);
    assert_true(f.by_header);

    /* 0 and 100 percent are exact. */
    cfg = (struct na_fault_config){.error_ppm = 0};
    for (unsigned i = 0; i < 1000; i++) {
        na_fault_decide(&cfg, NULL, NULL, na_fault_random(), &f, msg, sizeof(msg));
        assert_int_equal(f.status, 0);
    }
    assert_int_equal(na_fault_decide(&cfg, NULL, NULL, UINT64_MAX, &f, msg, sizeof(msg)), 0);
    assert_int_equal(f.status, 0);
    cfg.error_ppm = 1000000;
    for (unsigned i = 0; i < 1000; i++) {
        na_fault_decide(&cfg, NULL, NULL, na_fault_random(), &f, msg, sizeof(msg));
        assert_true(f.status == 500 || f.status == 503);
    }
    assert_int_equal(na_fault_decide(&cfg, NULL, NULL, UINT64_MAX, &f, msg, sizeof(msg)), 0);
    assert_true(f.status == 500 || f.status == 503);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_percent),
        cmocka_unit_test(test_parse_delay),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_configured_share),
    };
    return RUN(tests);
}
