/*
 * Unit tests for json: the strict grammar (what it takes and refuses, and
 * where), nesting limits, member walking and string decoding.
 */
#include "unit.h"

#include <string.h>

#include "na/json.h"

static enum na_json_rc check(const char *text, char *err)
{
    struct na_json_span root;

    err[0] = '\0';
    return na_json_parse(text, strlen(text), 8, &root, err, 160);
}

static void test_accepts_the_grammar(void **state)
{
    static const char *const valid[] = {
        "0",
        "-0",
        "1.5",
        "-12.25e+10",
        "1E-3",
        "1e0",
        "true",
        "false",
        "null",
        "\"\"",
        "\" \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\uD83D\\uDE00\"",
        "[]",
        "{}",
        " \t\r\n[1, 2 ,\"x\" , {\"a\" : [ ] } ]\n",
        "{\"\":0}",
        "\"\\ud800\"",
        "\"\xc3\xa9\"",
        "[[[[[[[1]]]]]]]",
    };
    char err[160];

    (void)state;
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        if (check(valid[i], err) != NA_JSON_OK)
            fail_msg("refused %s: %s", valid[i], err);
    }
}

static void test_refuses_the_rest(void **state)
{
    static const struct {
        const char *text, *says;
    } cases[] = {
        {"", "unexpected end of text, expected a value at byte 0"},
        {"   ", "at byte 3"},
        {"[1,]", "unexpected character ']', expected a value at byte 3"},
        {"{\"a\":1,}", "a member name"},
        {"{\"a\" 1}", "':' after a member name"},
        {"{1:2}", "a member name"},
        {"[1 2]", "',' or ']'"},
        {"{\"a\":1 \"b\":2}", "',' or '}'"},
        {"00", "leading zero at byte 1"},
        {"-01", "leading zero"},
        {"1.e5", "after its decimal point"},
        {"1e+", "in its exponent"},
        {"0x10", "after the JSON value"},
        {"\"abc", "unterminated string"},
        {"\"\\", "unterminated string"},
        {"\"\\u00g0\"", "four hex digits at byte 1"},
        {"\"\\a\"", "invalid escape in a string at byte 1"},
        {"\"a\x7f\" x", "after the JSON value"},
        {"\"\x01\"", "raw control character U+0001"},
        {"nul", "unexpected character 'n', expected a value"},
        {"True", "unexpected character 'T'"},
        {"[1]]", "after the JSON value at byte 3"},
        {"\xc3\xa9", "unexpected byte 0xC3"},
    };
    char err[160];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (check(cases[i].text, err) != NA_JSON_INVALID)
            fail_msg("accepted %s", cases[i].text);
        if (!strstr(err, cases[i].says))
            fail_msg("%s: \"%s\" lacks \"%s\"", cases[i].text, err, cases[i].says);
    }
}

static void test_depth(void **state)
{
    char err[160];

    (void)state;
    assert_int_equal(check("[[[[[[[[1]]]]]]]]", err), NA_JSON_OK); /* 8 levels */
    assert_int_equal(check("[[[[[[[[[1]]]]]]]]]", err), NA_JSON_TOO_DEEP);
    assert_non_null(strstr(err, "deeper than 8"));
    assert_int_equal(
        check("{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{}}}}}}}}}", err),
        NA_JSON_TOO_DEEP);
    /* An error before the depth is reached is reported as such. */
    assert_int_equal(check("[[[x[[[[[[[[[[[[[[", err), NA_JSON_INVALID);
}

static void test_members(void **state)
{
    const char *text =
        " { \"a\" : [1, {\"x\":\"}\"}] , \"b\\\"\":\"s,t\",\"c\":-1.5e3,\"d\":null } ";
    struct na_json_span root, key, value;
    struct na_json_members it;
    char err[160];

    (void)state;
    assert_int_equal(na_json_parse(text, strlen(text), 8, &root, err, sizeof(err)), NA_JSON_OK);
    assert_int_equal(root.kind, NA_JSON_OBJECT);
    assert_int_equal(root.len, strlen(text) - 2);
    na_json_members_init(&it, &root);
    assert_true(na_json_members_next(&it, &key, &value));
    assert_memory_equal(key.text, "\"a\"", key.len);
    assert_int_equal(value.kind, NA_JSON_ARRAY);
    assert_int_equal(value.len, strlen("[1, {\"x\":\"}\"}]"));
    assert_true(na_json_members_next(&it, &key, &value));
    assert_int_equal(key.len, strlen("\"b\\\"\""));
    assert_int_equal(value.kind, NA_JSON_STRING);
    assert_memory_equal(value.text, "\"s,t\"", value.len);
    assert_true(na_json_members_next(&it, &key, &value));
    assert_int_equal(value.kind, NA_JSON_NUMBER);
    assert_memory_equal(value.text, "-1.5e3", value.len);
    assert_true(na_json_members_next(&it, &key, &value));
    assert_int_equal(value.kind, NA_JSON_NULL);
    assert_int_equal(value.len, 4);
    assert_false(na_json_members_next(&it, &key, &value));

    assert_int_equal(na_json_parse("{}", 2, 8, &root, err, sizeof(err)), NA_JSON_OK);
    na_json_members_init(&it, &root);
    assert_false(na_json_members_next(&it, &key, &value));
}

static void test_strings(void **state)
{
    struct na_json_span s = {.kind = NA_JSON_STRING};
    char out[16];
    bool lone;
    size_t n;

    (void)state;
    s.text = "\"a\\u0000b\\n\\u00e9\"";
    s.len = strlen(s.text);
    n = na_json_string(&s, out, sizeof(out), &lone);
    assert_int_equal(n, 6);
    assert_memory_equal(out, "a\0b\n\xc3\xa9", 7);
    assert_false(lone);

    s.text = "\"\\ud83d\\ude00\\ud800x\\udc00\"";
    s.len = strlen(s.text);
    n = na_json_string(&s, out, sizeof(out), &lone);
    assert_int_equal(n, 4 + 3 + 1 + 3);
    assert_memory_equal(out, "\xf0\x9f\x98\x80\xef\xbf\xbdx\xef\xbf\xbd", n + 1);
    assert_true(lone);

    /* Cut to the storage, as snprintf: the whole length is still returned. */
    s.text = "\"0123456789abcdefghij\"";
    s.len = strlen(s.text);
    n = na_json_string(&s, out, 8, &lone);
    assert_int_equal(n, 20);
    assert_string_equal(out, "0123456");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_the_grammar),
        cmocka_unit_test(test_refuses_the_rest),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_members),
        cmocka_unit_test(test_strings),
    };

    return RUN(tests);
}
