/*
 * Unit tests for framing: what each head is refused with, and the length
 * read from the rest.
 */
#include "unit.h"

#include <string.h>

#include "na/framing.h"

static unsigned check(size_t head, const char *te, const char *const *cl, size_t ncl, uint64_t *len,
                      bool *has, char *msg)
{
    struct na_framing f = {
        .head_bytes = head, .transfer_encoding = te, .lengths = cl, .nlengths = ncl};

    msg[0] = '\0';
    return na_framing_check(&f, len, has, msg, 160);
}

static void test_refusals(void **state)
{
    static const char *const five[] = {"5"}, *const disagree[] = {"5", "6"};
    uint64_t len = 7;
    bool has = true;
    char msg[160];

    (void)state;
    assert_int_equal(check(NA_HEAD_MAX + 1, NULL, NULL, 0, &len, &has, msg), 431);
    assert_non_null(strstr(msg, "16385 bytes"));
    {
        struct na_framing f = {.head_bytes = 100, .fields = NA_HEADERS_MAX + 1};

        assert_int_equal(na_framing_check(&f, &len, &has, msg, sizeof(msg)), 431);
        assert_non_null(strstr(msg, "101 header fields"));
        f.fields = NA_HEADERS_MAX;
        assert_int_equal(na_framing_check(&f, &len, &has, msg, sizeof(msg)), 0);
        len = 7;
        has = true;
    }
    assert_int_equal(check(100, "chunked", five, 1, &len, &has, msg), 400);
    assert_non_null(strstr(msg, "Transfer-Encoding together with Content-Length"));
    assert_int_equal(check(100, NULL, disagree, 2, &len, &has, msg), 400);
    assert_non_null(strstr(msg, "disagree"));
    assert_int_equal(check(100, "gzip", NULL, 0, &len, &has, msg), 501);
    assert_non_null(strstr(msg, "\"gzip\""));
    assert_int_equal(check(100, "gzip, chunked", NULL, 0, &len, &has, msg), 501);
    assert_int_equal(check(100, "identity", NULL, 0, &len, &has, msg), 501);
    {
        struct na_framing f = {.head_bytes = 100, .idempotency_keys = 2};

        assert_int_equal(na_framing_check(&f, &len, &has, msg, sizeof(msg)), 400);
        assert_non_null(strstr(msg, "Idempotency-Key given 2 times"));
        len = 7;
        has = true;
    }
    {
        struct na_framing f = {
            .head_bytes = 100, .transfer_encoding = "chunked", .transfer_encodings = 2};

        assert_int_equal(na_framing_check(&f, &len, &has, msg, sizeof(msg)), 400);
        assert_non_null(strstr(msg, "Transfer-Encoding given 2 times"));
        len = 7;
        has = true;
    }
    /* Refusals leave the outputs alone. */
    assert_int_equal(len, 7);
    assert_true(has);
}

static void test_accepted(void **state)
{
    static const char *const same[] = {"12", "12"}, *const huge[] = {"99999999999999999999"};
    uint64_t len;
    bool has;
    char msg[160];

    (void)state;
    assert_int_equal(check(NA_HEAD_MAX, NULL, NULL, 0, &len, &has, msg), 0);
    assert_false(has);
    assert_int_equal(len, 0);
    assert_int_equal(check(100, "Chunked", NULL, 0, &len, &has, msg), 0);
    assert_false(has);
    assert_int_equal(check(100, NULL, same, 2, &len, &has, msg), 0);
    assert_true(has);
    assert_int_equal(len, 12);
    assert_int_equal(check(100, NULL, huge, 1, &len, &has, msg), 0);
    assert_int_equal(len, UINT64_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_accepted),
    };

    return RUN(tests);
}
