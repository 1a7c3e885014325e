/*
 * Unit tests for idem: which Idempotency-Key values are keys, and what the
 * fingerprint of a write does and does not depend on.
 */
#include "unit.h"

#include <string.h>

#include "na/idem.h"

static void test_keys(void **state)
{
    static const struct {
        const char *value, *key;
    } good[] = {
        {"abc", "abc"},
        {"8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324"},
        {"\"abc\"", "abc"},
        {"\"a \\\"b\\\" \\\\c\"", "a \"b\" \\c"},
        {"with inner space", "with inner space"},
        {"~!@#$%^&*()_+{}|:<>?", "~!@#$%^&*()_+{}|:<>?"},
        {"trailing \t ", "trailing"},
        {"\"quoted\"  ", "quoted"},
    };
    static const char *const bad[] = {
        "",         "  ",   "\"\"",        "\"abc", "\"abc\"x",
        "\"a\\b\"", "a\tb", "caf\xc3\xa9", "\x7f",  "\"\x01\"",
    };
    char key[NA_IDEM_KEY_MAX + 1], longest[NA_IDEM_KEY_MAX + 3];

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(na_idem_key_parse(good[i].value, key), 0);
        assert_string_equal(key, good[i].key);
    }
    strcpy(key, "untouched");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (na_idem_key_parse(bad[i], key) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    assert_string_equal(key, "untouched"); /* set only on success */
    assert_int_equal(na_idem_key_parse(NULL, key), -1);
    memset(longest, 'k', NA_IDEM_KEY_MAX);
    longest[NA_IDEM_KEY_MAX] = '\0';
    assert_int_equal(na_idem_key_parse(longest, key), 0);
    longest[NA_IDEM_KEY_MAX] = 'k';
    longest[NA_IDEM_KEY_MAX + 1] = '\0';
    assert_int_equal(na_idem_key_parse(longest, key), -1);
}

static void test_fingerprints(void **state)
{
    struct na_item a = {.name = "Widget", .price_cents = 2999}, b = a;
    char fa[NA_IDEM_HEX], fb[NA_IDEM_HEX];

    (void)state;
    na_idem_fingerprint(NA_STORE_CREATE, 0, &a, fa);
    na_idem_fingerprint(NA_STORE_CREATE, 0, &b, fb);
    assert_string_equal(fa, fb);
    assert_int_equal(strlen(fa), 64);
    b.price_cents = 3000;
    na_idem_fingerprint(NA_STORE_CREATE, 0, &b, fb);
    assert_string_not_equal(fa, fb);
    b = a;
    strcpy(b.name, "Widget2");
    na_idem_fingerprint(NA_STORE_CREATE, 0, &b, fb);
    assert_string_not_equal(fa, fb);
    /* The method and the path count. */
    na_idem_fingerprint(NA_STORE_UPDATE, 7, &a, fb);
    assert_string_not_equal(fa, fb);
    na_idem_fingerprint(NA_STORE_UPDATE, 8, &a, fa);
    assert_string_not_equal(fa, fb);
    na_idem_fingerprint(NA_STORE_DELETE, 8, NULL, fb);
    assert_string_not_equal(fa, fb);
    /* "ab" + 1 and "a" + "b1" are different requests. */
    strcpy(a.name, "ab");
    a.price_cents = 1;
    strcpy(b.name, "a");
    b.price_cents = 11;
    na_idem_fingerprint(NA_STORE_CREATE, 0, &a, fa);
    na_idem_fingerprint(NA_STORE_CREATE, 0, &b, fb);
    assert_string_not_equal(fa, fb);
}

static void test_scope(void **state)
{
    char s1[NA_IDEM_HEX], s2[NA_IDEM_HEX];

    (void)state;
    na_idem_scope("key-one", s1);
    na_idem_scope("key-two", s2);
    assert_string_not_equal(s1, s2);
    assert_null(strstr(s1, "key-one"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_fingerprints),
        cmocka_unit_test(test_scope),
    };

    return RUN(tests);
}
