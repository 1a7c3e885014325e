/*
 * Unit tests for item: which bodies are valid items, what each refusal
 * says, and exact price reading.
 */
#include "unit.h"

#include <stdio.h>
#include <string.h>

#include "na/item.h"

static int parse(const char *body, struct na_item *out, char *err)
{
    return na_item_parse(body, strlen(body), out, err, 200);
}

static void test_valid(void **state)
{
    struct na_item it;
    char err[200], name[201], body[400];

    (void)state;
    assert_int_equal(parse("{\"name\":\"Widget\",\"price\":29.99}", &it, err), 0);
    assert_string_equal(it.name, "Widget");
    assert_int_equal(it.price_cents, 2999);
    assert_int_equal(parse(" {\"price\": 0, \"name\": \"z\"} \n", &it, err), 0);
    assert_int_equal(it.price_cents, 0);
    assert_int_equal(parse("{\"name\":\"x\",\"price\":999999999999.99}", &it, err), 0);
    assert_int_equal(it.price_cents, NA_PRICE_MAX_CENTS);
    assert_int_equal(parse("{\"name\":\"x\",\"price\":1e2}", &it, err), 0);
    assert_int_equal(it.price_cents, 10000);
    assert_int_equal(parse("{\"name\":\"x\",\"price\":0.1}", &it, err), 0);
    assert_int_equal(it.price_cents, 10);
    /* SQL and markup are just text. */
    assert_int_equal(parse("{\"name\":\"'); DROP TABLE items;--<b>\",\"price\":1}", &it, err), 0);
    assert_string_equal(it.name, "'); DROP TABLE items;--<b>");
    /* 200 bytes of UTF-8: 100 two-byte characters. */
    for (int i = 0; i < 100; i++)
        memcpy(name + 2 * i, "\xc3\xa9", 2);
    name[200] = '\0';
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"price\":1}", name);
    assert_int_equal(parse(body, &it, err), 0);
    assert_int_equal(strlen(it.name), 200);
}

/* Each bad body is refused, and the message names what is wrong. */
static void test_refusals(void **state)
{
    static const struct {
        const char *body, *says;
    } cases[] = {
        {"", "not valid JSON"},
        {"{", "not valid JSON"},
        {"[]", "JSON object"},
        {"\"x\"", "JSON object"},
        {"{\"name\":\"x\",\"price\":1} x", "after the JSON value at byte 23"},
        {"{\"price\":1}", "\"name\" is required"},
        {"{\"name\":\"x\"}", "\"price\" is required"},
        {"{\"name\":1,\"price\":1}", "\"name\" must be a string"},
        {"{\"name\":\"\",\"price\":1}", "\"name\" must be 1 to 200 bytes"},
        {"{\"name\":\"x\",\"price\":\"1\"}", "\"price\" must be a number"},
        {"{\"name\":\"x\",\"price\":-1}", "\"price\" must be a number from 0"},
        {"{\"name\":\"x\",\"price\":1.005}", "at most 2 decimals"},
        {"{\"name\":\"x\",\"price\":1e13}", "\"price\" must be a number from 0"},
        {"{\"name\":\"x\",\"price\":1e400}", "\"price\""},
        {"{\"name\":\"x\",\"price\":null}", "\"price\" must be a number"},
        {"{\"name\":\"x\",\"price\":1,\"color\":\"red\"}", "\"color\" is unknown"},
        {"{\"name\":\"x\",\"name\":\"y\",\"price\":1}", "\"name\" appears twice"},
        {"{\"name\":\"a\\u0000b\",\"price\":1}", "NUL"},
        {"{\"name\":\"\xff\",\"price\":1}", "UTF-8"},
        {"{\"name\":\"\\ud800\",\"price\":1}", "\"name\" must be 1 to 200 bytes of UTF-8"},
    };
    struct na_item it;
    char err[200];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        assert_int_equal(parse(cases[i].body, &it, err), -1);
        if (!strstr(err, cases[i].says))
            fail_msg("body %s: message \"%s\" lacks \"%s\"", cases[i].body, err, cases[i].says);
    }
}

/*
 * What JSON.parse refuses is refused, whatever the item rules would say:
 * raw control characters in strings and keys (RFC 8259 section 7), bytes
 * that are not JSON whitespace, and numbers outside the grammar.
 */
static void test_strict_json(void **state)
{
    static const struct {
        const char *body;
        size_t len;
        const char *says;
    } cases[] = {
#define C(lit, says) {lit, sizeof(lit) - 1, says}
        C("{\"name\":\"Wid\0get\",\"price\":1}",
          "raw control character U+0000 in a string (escape it as \\u0000) at byte 12"),
        C("{\"name\":\"Wid\tget\",\"price\":1}", "raw control character U+0009"),
        C("{\"name\":\"Wid\nget\",\"price\":1}", "raw control character U+000A"),
        C("{\"na\x1fme\":\"x\",\"price\":1}", "raw control character U+001F"),
        C("\x01{\"name\":\"x\",\"price\":1}", "unexpected character U+0001"),
        C("{\"name\":\"x\",\"price\":1}\x0b", "unexpected character U+000B"),
        C("{\"name\":\"x\",\"price\":01}", "leading zero"),
        C("{\"name\":\"x\",\"price\":+1}", "unexpected character '+'"),
        C("{\"name\":\"x\",\"price\":.5}", "unexpected character '.'"),
        C("{\"name\":\"x\",\"price\":1.}", "after its decimal point"),
        C("{\"name\":\"x\",\"price\":1e}", "in its exponent"),
        C("{\"name\":\"x\",\"price\":-}", "number without digits"),
        C("{\"name\":\"x\",\"price\":NaN}", "unexpected character 'N'"),
        C("{\"name\":\"x\",\"price\":Infinity}", "unexpected character 'I'"),
        C("{\"name\":\"x\",\"price\":1,}", "a member name"),
        C("{\"name\":\"\\x\",\"price\":1}", "invalid escape"),
        C("{\"name\":\"\\u12\",\"price\":1}", "four hex digits"),
        C("{\"name\":\"x\",\"price\":tru}", "unexpected character 't'"),
        C("{'name':\"x\",\"price\":1}", "unexpected character '''"),
        C("\xef\xbb\xbf{\"name\":\"x\",\"price\":1}", "unexpected byte 0xEF"),
#undef C
    };
    struct na_item it;
    char err[200];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        if (na_item_parse(cases[i].body, cases[i].len, &it, err, sizeof(err)) != -1)
            fail_msg("case %zu accepted", i);
        if (!strstr(err, cases[i].says))
            fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, err, cases[i].says);
    }
}

/* What JSON.parse accepts is read as it reads it. */
static void test_numbers_as_javascript_reads_them(void **state)
{
    struct na_item it;
    char err[200], body[200];

    (void)state;
    /* Longer than cJSON's 63-character number buffer: still the double 29.99. */
    snprintf(body, sizeof(body), "{\"name\":\"x\",\"price\":29.99%070d}", 0);
    assert_int_equal(parse(body, &it, err), 0);
    assert_int_equal(it.price_cents, 2999);
    assert_int_equal(parse("{\"name\":\"x\",\"price\":-0}", &it, err), 0);
    assert_int_equal(it.price_cents, 0);
    assert_int_equal(parse("{\"name\":\"x\",\"price\":2.5E+1}", &it, err), 0);
    assert_int_equal(it.price_cents, 2500);
    /* Escapes, including a surrogate pair, and escaped control characters. */
    assert_int_equal(
        parse("{\"n\\u0061me\":\"\\ud83d\\ude00 \\u00e9\\t\\/\",\"price\":1}", &it, err), 0);
    assert_string_equal(it.name, "\xf0\x9f\x98\x80 \xc3\xa9\t/");
}

static void test_deep_nesting_is_cheap(void **state)
{
    static char body[40000];
    struct na_item it;
    char err[200];

    (void)state;
    memset(body, '[', 20000);
    memset(body + 20000, ']', 20000);
    assert_int_equal(na_item_parse(body, 40000, &it, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "deeper than"));
    /* Brackets inside strings do not count. */
    assert_int_equal(
        parse("{\"name\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\",\"price\":1}", &it, err), 0);
}

static void test_price_text(void **state)
{
    int64_t c;

    (void)state;
    assert_int_equal(na_price_from_text("29.99", &c), 0);
    assert_int_equal(c, 2999);
    assert_int_equal(na_price_from_text("30.00", &c), 0);
    assert_int_equal(c, 3000);
    assert_int_equal(na_price_from_text("30.5", &c), 0);
    assert_int_equal(c, 3050);
    assert_int_equal(na_price_from_text("7", &c), 0);
    assert_int_equal(c, 700);
    assert_int_equal(na_price_from_text("999999999999.99", &c), 0);
    assert_int_equal(na_price_from_text("1000000000000.00", &c), -1);
    assert_int_equal(na_price_from_text("1.001", &c), -1);
    assert_int_equal(na_price_from_text("1.", &c), -1);
    assert_int_equal(na_price_from_text("-1", &c), -1);
    assert_int_equal(na_price_from_text("", &c), -1);
    assert_int_equal(na_price_from_text("1e2", &c), -1);
}

static void test_ids(void **state)
{
    int64_t id;

    (void)state;
    assert_int_equal(na_item_id_parse("42", 2, &id), 0);
    assert_int_equal(id, 42);
    assert_int_equal(na_item_id_parse("9223372036854775807", 19, &id), 0);
    assert_int_equal(na_item_id_parse("9223372036854775808", 19, &id), -1);
    assert_int_equal(na_item_id_parse("0", 1, &id), -1);
    assert_int_equal(na_item_id_parse("-1", 2, &id), -1);
    assert_int_equal(na_item_id_parse("1a", 2, &id), -1);
    assert_int_equal(na_item_id_parse("", 0, &id), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_strict_json),
        cmocka_unit_test(test_numbers_as_javascript_reads_them),
        cmocka_unit_test(test_deep_nesting_is_cheap),
        cmocka_unit_test(test_price_text),
        cmocka_unit_test(test_ids),
    };

    return RUN(tests);
}
