/*
 * Unit tests for reqid: which client ids are kept, and fresh ObjectIds.
 */
#include "unit.h"

#include <string.h>

#include "na/reqid.h"

static void test_sane_ids_kept(void **state)
{
    static const char *const kept[] = {
        "abc",
        "6b0887e907198c4be00b5330",
        "123e4567-e89b-12d3-a456-426614174000",
        "Root=1-67891233-abcdef012345678912345678",
        "a+b/c=",
        "user@host:1",
    };
    char out[NA_REQID_MAX + 1];

    (void)state;
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        assert_int_equal(na_reqid_assign(kept[i], out), strlen(kept[i]));
        assert_string_equal(out, kept[i]);
    }
}

static void test_insane_ids_replaced(void **state)
{
    static const char *const replaced[] = {
        "", "has space", "quote\"", "new\nline", "semi;colon", "\xc3\xa9", "back\\slash",
    };
    char out[NA_REQID_MAX + 1], longest[NA_REQID_MAX + 2];

    (void)state;
    for (size_t i = 0; i < sizeof(replaced) / sizeof(replaced[0]); i++) {
        assert_int_equal(na_reqid_assign(replaced[i], out), 24);
        assert_string_not_equal(out, replaced[i]);
    }
    memset(longest, 'a', sizeof(longest) - 1);
    longest[sizeof(longest) - 1] = '\0';
    assert_int_equal(na_reqid_assign(longest, out), 24);
    longest[NA_REQID_MAX] = '\0';
    assert_int_equal(na_reqid_assign(longest, out), NA_REQID_MAX);
}

static void test_fresh_ids(void **state)
{
    char a[NA_REQID_MAX + 1], b[NA_REQID_MAX + 1];

    (void)state;
    assert_int_equal(na_reqid_assign(NULL, a), 24);
    assert_int_equal(na_reqid_assign(NULL, b), 24);
    assert_string_not_equal(a, b);
    for (size_t i = 0; i < 24; i++)
        assert_non_null(strchr("0123456789abcdef", a[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sane_ids_kept),
        cmocka_unit_test(test_insane_ids_replaced),
        cmocka_unit_test(test_fresh_ids),
    };

    return RUN(tests);
}
