/*
 * Unit tests for buf: bounded appends and JSON string escaping.
 */
#include "unit.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "na/buf.h"

static const char *esc(char *storage, size_t cap, const char *s, size_t n, size_t max_in)
{
    struct na_buf b;

    na_buf_init(&b, storage, cap);
    na_buf_json_str(&b, s, n, max_in);
    return b.data;
}

static void test_escapes(void **state)
{
    char out[256];

    (void)state;
    assert_string_equal(esc(out, sizeof(out), "plain", 5, 0), "\"plain\"");
    assert_string_equal(esc(out, sizeof(out), "a\"b\\c", 5, 0), "\"a\\\"b\\\\c\"");
    assert_string_equal(esc(out, sizeof(out), "\n\r\t\x01", 4, 0), "\"\\n\\r\\t\\u0001\"");
    assert_string_equal(esc(out, sizeof(out), "caf\xc3\xa9", 5, 0), "\"caf\xc3\xa9\"");
    /* A NUL inside the given length is escaped, not a terminator. */
    assert_string_equal(esc(out, sizeof(out), "a\0b", 3, 0), "\"a\\u0000b\"");
}

static void test_invalid_utf8_replaced(void **state)
{
    char out[256];

    (void)state;
    /* Lone continuation, overlong '/', surrogate, truncated sequence. */
    assert_string_equal(esc(out, sizeof(out), "\x80", 1, 0), "\"\\ufffd\"");
    assert_string_equal(esc(out, sizeof(out), "\xc0\xaf", 2, 0), "\"\\ufffd\\ufffd\"");
    assert_string_equal(esc(out, sizeof(out), "\xed\xa0\x80", 3, 0), "\"\\ufffd\\ufffd\\ufffd\"");
    assert_string_equal(esc(out, sizeof(out), "ok\xe2\x82", 4, 0), "\"ok\\ufffd\\ufffd\"");
}

static void test_truncation_stays_valid_json(void **state)
{
    char out[16];
    struct na_buf b;
    cJSON *j;

    (void)state;
    /* Every cut point of a string full of escapes still parses. */
    for (size_t cap = 3; cap <= sizeof(out); cap++) {
        na_buf_init(&b, out, cap);
        na_buf_json_str(&b, "\"\x01\xc3\xa9\\abcdef", 12, 0);
        j = cJSON_Parse(b.data);
        assert_non_null(j);
        assert_true(cJSON_IsString(j));
        cJSON_Delete(j);
    }
    assert_true(b.truncated);
}

static void test_max_in(void **state)
{
    char out[64];

    (void)state;
    assert_string_equal(esc(out, sizeof(out), "abcdef", 6, 3), "\"abc\"");
}

static void test_append_bounds(void **state)
{
    char out[8];
    struct na_buf b;

    (void)state;
    na_buf_init(&b, out, sizeof(out));
    na_buf_puts(&b, "abc");
    na_buf_int(&b, -42);
    assert_string_equal(b.data, "abc-42");
    assert_false(b.truncated);
    na_buf_printf(&b, "%s", "xyz");
    assert_string_equal(b.data, "abc-42x");
    assert_true(b.truncated);
    assert_int_equal(b.len, 7);
}

static void test_utf8_valid(void **state)
{
    (void)state;
    assert_true(na_utf8_valid("", 0));
    assert_true(na_utf8_valid("\xf0\x9f\x98\x80", 4));
    assert_false(na_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    assert_false(na_utf8_valid("\xe0\x80\x80", 3));     /* overlong */
    assert_false(na_utf8_valid("\xff", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_invalid_utf8_replaced),
        cmocka_unit_test(test_truncation_stays_valid_json),
        cmocka_unit_test(test_max_in),
        cmocka_unit_test(test_append_bounds),
        cmocka_unit_test(test_utf8_valid),
    };

    return RUN(tests);
}
