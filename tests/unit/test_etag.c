/*
 * Unit tests for etag: the tag's form, that it follows every byte of the
 * body, and If-None-Match as RFC 9110 and Express's `fresh` read it: one or
 * many tags, weak comparison, "*" alone, a fault ending the list, and
 * Cache-Control: no-cache.
 */
#include "unit.h"

#include <stdio.h>
#include <string.h>

#include "na/etag.h"

static void test_form(void **state)
{
    char tag[NA_ETAG_MAX], big[NA_ETAG_MAX];
    static char body[70000];

    (void)state;
    na_etag_of("", 0, tag);
    assert_int_equal(strlen(tag), 3 + 1 + 1 + 16 + 1);
    assert_memory_equal(tag, "W/\"0-", 5);
    na_etag_of(body, sizeof(body), big);
    assert_memory_equal(big, "W/\"11170-", 9); /* the length in hex */
    assert_int_equal(big[strlen(big) - 1], '"');
}

static void test_every_byte_counts(void **state)
{
    char body[41], a[NA_ETAG_MAX], b[NA_ETAG_MAX];

    (void)state;
    memset(body, 'x', sizeof(body));
    na_etag_of(body, sizeof(body), a);
    for (size_t i = 0; i < sizeof(body); i++) {
        for (int bit = 0; bit < 8; bit++) {
            body[i] ^= (char)(1 << bit);
            na_etag_of(body, sizeof(body), b);
            assert_string_not_equal(a, b);
            body[i] ^= (char)(1 << bit);
        }
    }
    na_etag_of(body, sizeof(body) - 1, b); /* a shorter body */
    assert_string_not_equal(a, b);
    na_etag_of(body, sizeof(body), b);
    assert_string_equal(a, b); /* and the same body, the same tag */
}

static void test_matches(void **state)
{
    char tag[NA_ETAG_MAX], list[200];

    (void)state;
    na_etag_of("{\"id\":1}", 8, tag);
    assert_true(na_etag_matches(tag, tag));
    assert_true(na_etag_matches(tag + 2, tag)); /* weak comparison: W/ ignored */
    snprintf(list, sizeof(list), "\"a\", W/\"b\",%s", tag);
    assert_true(na_etag_matches(list, tag));
    snprintf(list, sizeof(list), " \t%s , \"z\"", tag);
    assert_true(na_etag_matches(list, tag));
    assert_true(na_etag_matches("*", tag));
    assert_true(na_etag_matches(" * ", tag));
    assert_false(na_etag_matches(NULL, tag));
    assert_false(na_etag_matches("", tag));
    assert_false(na_etag_matches("W/\"other\"", tag));
    assert_false(na_etag_matches("\"a\", *", tag));   /* "*" in a list is a fault */
    snprintf(list, sizeof(list), "garbage, %s", tag); /* nothing after a fault is read */
    assert_false(na_etag_matches(list, tag));
    snprintf(list, sizeof(list), "\"unterminated, %s", tag);
    assert_false(na_etag_matches(list, tag));
    snprintf(list, sizeof(list), "%.*sx\"", (int)strlen(tag) - 1, tag); /* one digit more */
    assert_false(na_etag_matches(list, tag));
    snprintf(list, sizeof(list), "%.*s", (int)strlen(tag) - 1, tag); /* no closing quote */
    assert_false(na_etag_matches(list, tag));
}

static void test_no_cache(void **state)
{
    (void)state;
    assert_true(na_etag_no_cache("no-cache"));
    assert_true(na_etag_no_cache("max-age=0, no-cache"));
    assert_true(na_etag_no_cache("no-cache,no-store"));
    assert_false(na_etag_no_cache(NULL));
    assert_false(na_etag_no_cache("max-age=0"));
    assert_false(na_etag_no_cache("no-cache-please"));
    assert_false(na_etag_no_cache("x-no-cache"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form),
        cmocka_unit_test(test_every_byte_counts),
        cmocka_unit_test(test_matches),
        cmocka_unit_test(test_no_cache),
    };
    return RUN(tests);
}
