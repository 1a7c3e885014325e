/*
 * Unit tests for sysinfo: what cgroup v1 and v2 files say about limits.
 */
#include "unit.h"

#include "na/sysinfo.h"

static void test_cpu_max(void **state)
{
    unsigned cpus = 99;

    (void)state;
    assert_int_equal(na_sysinfo_parse_cpu_max("max 100000\n", &cpus), 0);
    assert_int_equal(cpus, 0);
    assert_int_equal(na_sysinfo_parse_cpu_max("-1 100000\n", &cpus), 0);
    assert_int_equal(cpus, 0);
    assert_int_equal(na_sysinfo_parse_cpu_max("200000 100000\n", &cpus), 0);
    assert_int_equal(cpus, 2);
    /* Fargate's 0.25 vCPU and a docker --cpus=1.5: round up to whole CPUs. */
    assert_int_equal(na_sysinfo_parse_cpu_max("25000 100000", &cpus), 0);
    assert_int_equal(cpus, 1);
    assert_int_equal(na_sysinfo_parse_cpu_max("150000 100000", &cpus), 0);
    assert_int_equal(cpus, 2);
    assert_int_equal(na_sysinfo_parse_cpu_max("garbage", &cpus), -1);
    assert_int_equal(na_sysinfo_parse_cpu_max("100 0", &cpus), -1);
    assert_int_equal(na_sysinfo_parse_cpu_max("100", &cpus), -1);
}

static void test_memory_max(void **state)
{
    uint64_t bytes = 1;

    (void)state;
    assert_int_equal(na_sysinfo_parse_memory_max("max\n", &bytes), 0);
    assert_int_equal(bytes, 0);
    assert_int_equal(na_sysinfo_parse_memory_max("1073741824\n", &bytes), 0);
    assert_int_equal(bytes, 1073741824);
    /* cgroup v1's "no limit". */
    assert_int_equal(na_sysinfo_parse_memory_max("9223372036854771712\n", &bytes), 0);
    assert_int_equal(bytes, 0);
    assert_int_equal(na_sysinfo_parse_memory_max("12k", &bytes), -1);
    assert_int_equal(na_sysinfo_parse_memory_max("", &bytes), -1);
}

static void test_probe_is_sane(void **state)
{
    struct na_sysinfo si;

    (void)state;
    na_sysinfo_probe(&si);
    assert_true(si.cpus >= 1);
    assert_true(si.nofile >= 64);
    assert_true(na_sysinfo_rss() > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_max),
        cmocka_unit_test(test_memory_max),
        cmocka_unit_test(test_probe_is_sane),
    };

    return RUN(tests);
}
