/*
 * Unit tests for resolve, over fake lookups: addresses in order without
 * duplicates, failures named, and a lookup that stalls abandoned at the
 * deadline or at the stop flag (its thread finishing later, under the
 * sanitizers, without harm).
 */
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "na/clock.h"
#include "na/resolve.h"

/* One block per node, the address inside it, as glibc lays them out for freeaddrinfo(). */
static struct addrinfo *node(int family, const char *text, struct addrinfo *next)
{
    struct block {
        struct addrinfo ai;
        union {
            struct sockaddr_in v4;
            struct sockaddr_in6 v6;
        } sa;
    } *b = calloc(1, sizeof(*b));

    b->ai.ai_family = family;
    b->ai.ai_next = next;
    b->ai.ai_addr = (struct sockaddr *)&b->sa;
    if (family == AF_INET) {
        b->sa.v4.sin_family = AF_INET;
        inet_pton(AF_INET, text, &b->sa.v4.sin_addr);
        b->ai.ai_addrlen = sizeof(b->sa.v4);
    } else {
        b->sa.v6.sin6_family = AF_INET6;
        inet_pton(AF_INET6, text, &b->sa.v6.sin6_addr);
        b->ai.ai_addrlen = sizeof(b->sa.v6);
    }
    return &b->ai;
}

static int three_addresses(const char *n, const char *s, const struct addrinfo *h,
                           struct addrinfo **res)
{
    (void)n;
    (void)s;
    (void)h;
    *res = node(AF_INET, "10.0.0.5", node(AF_INET6, "fd00::5", node(AF_INET, "10.0.0.5", NULL)));
    return 0;
}

static int no_such_name(const char *n, const char *s, const struct addrinfo *h,
                        struct addrinfo **res)
{
    (void)n;
    (void)s;
    (void)h;
    (void)res;
    return EAI_NONAME;
}

static int stalls(const char *n, const char *s, const struct addrinfo *h, struct addrinfo **res)
{
    struct timespec ts = {.tv_nsec = 400000000};

    nanosleep(&ts, NULL);
    return three_addresses(n, s, h, res);
}

static void test_addresses(void **state)
{
    char addrs[NA_RESOLVE_MAX][NA_RESOLVE_ADDR_MAX], err[128];
    size_t n = 0;

    (void)state;
    assert_int_equal(na_resolve("db", 1000, NULL, three_addresses, addrs, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2);
    assert_string_equal(addrs[0], "10.0.0.5");
    assert_string_equal(addrs[1], "fd00::5");
    assert_int_equal(na_resolve("localhost", 5000, NULL, NULL, addrs, &n, err, sizeof(err)), 0);
    assert_true(n >= 1);
}

static void test_failure_named(void **state)
{
    char addrs[NA_RESOLVE_MAX][NA_RESOLVE_ADDR_MAX], err[128];
    size_t n = 7;

    (void)state;
    assert_int_equal(na_resolve("db", 1000, NULL, no_such_name, addrs, &n, err, sizeof(err)), -1);
    assert_string_equal(err, gai_strerror(EAI_NONAME));
    assert_int_equal(n, 7); /* untouched on failure */
}

static void test_deadline(void **state)
{
    char addrs[NA_RESOLVE_MAX][NA_RESOLVE_ADDR_MAX], err[128];
    uint64_t t0 = na_clock_ns();
    size_t n;

    (void)state;
    assert_int_equal(na_resolve("db", 50, NULL, stalls, addrs, &n, err, sizeof(err)), -1);
    assert_string_equal(err, "timed out");
    assert_true(na_clock_ms_since(t0) < 350); /* did not wait for the lookup */
    usleep(500000);                           /* the abandoned lookup ends and cleans up */
}

static atomic_bool stop;

static void *stop_soon(void *arg)
{
    (void)arg;
    usleep(50000);
    atomic_store(&stop, true);
    return NULL;
}

static void test_stop(void **state)
{
    char addrs[NA_RESOLVE_MAX][NA_RESOLVE_ADDR_MAX], err[128];
    uint64_t t0 = na_clock_ns();
    pthread_t t;
    size_t n;

    (void)state;
    atomic_init(&stop, false);
    pthread_create(&t, NULL, stop_soon, NULL);
    assert_int_equal(na_resolve("db", 10000, &stop, stalls, addrs, &n, err, sizeof(err)), -1);
    assert_string_equal(err, "stopping");
    assert_true(na_clock_ms_since(t0) < 350);
    pthread_join(t, NULL);
    usleep(500000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_failure_named),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_stop),
    };

    return RUN(tests);
}
