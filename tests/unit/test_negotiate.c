/*
 * Unit tests for negotiate and auth: Accept headers, and API key checks.
 */
#include "unit.h"

#include <string.h>

#include "na/auth.h"
#include "na/negotiate.h"

static void test_accept(void **state)
{
    static const struct {
        const char *accept;
        enum na_format want;
    } cases[] = {
        {NULL, NA_FORMAT_JSON},
        {"", NA_FORMAT_JSON},
        {"*/*", NA_FORMAT_JSON},
        {"application/json", NA_FORMAT_JSON},
        {"application/bson", NA_FORMAT_BSON},
        {"APPLICATION/BSON", NA_FORMAT_BSON},
        {"application/*", NA_FORMAT_JSON},
        {"text/html", NA_FORMAT_NONE},
        {"text/html, application/bson;q=0.1", NA_FORMAT_BSON},
        {"application/json;q=0.5, application/bson", NA_FORMAT_BSON},
        {"application/json, application/bson", NA_FORMAT_JSON},
        {"application/json;q=0, */*", NA_FORMAT_BSON},
        {"*/*;q=0", NA_FORMAT_NONE},
        {"application/bson;q=0, */*;q=0.2", NA_FORMAT_JSON},
        {"text/html;level=1;q=0.9, */* ; q=0.1", NA_FORMAT_JSON},
        {"application/json;q=bogus", NA_FORMAT_NONE},
        {"garbage", NA_FORMAT_NONE},
        {",,,", NA_FORMAT_NONE},
        {"/", NA_FORMAT_NONE},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (na_negotiate(cases[i].accept) != cases[i].want)
            fail_msg("Accept: %s", cases[i].accept ? cases[i].accept : "(none)");
    }
}

static void test_auth(void **state)
{
    (void)state;
    assert_int_equal(na_auth_check("", "Bearer x", NULL), NA_AUTH_DISABLED);
    assert_int_equal(na_auth_check("k3y", NULL, NULL), NA_AUTH_MISSING);
    assert_int_equal(na_auth_check("k3y", "Bearer ", NULL), NA_AUTH_MISSING);
    assert_int_equal(na_auth_check("k3y", "Bearer k3y", NULL), NA_AUTH_OK);
    assert_int_equal(na_auth_check("k3y", "bearer k3y", NULL), NA_AUTH_OK);
    assert_int_equal(na_auth_check("k3y", NULL, "k3y"), NA_AUTH_OK);
    assert_int_equal(na_auth_check("k3y", "Basic azN5", NULL), NA_AUTH_MISSING);
    assert_int_equal(na_auth_check("k3y", "Basic azN5", "k3y"), NA_AUTH_OK);
    assert_int_equal(na_auth_check("k3y", "Bearer k3", NULL), NA_AUTH_WRONG);
    assert_int_equal(na_auth_check("k3y", "Bearer k3yy", NULL), NA_AUTH_WRONG);
    assert_int_equal(na_auth_check("k3y", NULL, "K3Y"), NA_AUTH_WRONG);
    assert_true(na_auth_equal("abc", 3, "abc", 3));
    assert_false(na_auth_equal("abc", 3, "abd", 3));
    assert_false(na_auth_equal("abc", 3, "ab", 2));
    assert_false(na_auth_equal("", 0, "a", 1));
    assert_true(na_auth_equal("", 0, "", 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept),
        cmocka_unit_test(test_auth),
    };

    return RUN(tests);
}
