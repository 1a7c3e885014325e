/*
 * Unit tests for sha256: the FIPS 180-4 / NIST example vectors, and the
 * same digest whatever the pieces the data comes in.
 */
#include "unit.h"

#include <string.h>

#include "na/sha256.h"

static void test_vectors(void **state)
{
    static const struct {
        const char *in, *hex;
    } cases[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrl"
         "mnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    char hex[NA_SHA256_HEX];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        na_sha256_hex(cases[i].in, strlen(cases[i].in), hex);
        assert_string_equal(hex, cases[i].hex);
    }
}

static void test_million_a_in_pieces(void **state)
{
    static char a[1001];
    struct na_sha256 c;
    char hex[NA_SHA256_HEX];

    (void)state;
    memset(a, 'a', sizeof(a));
    na_sha256_init(&c);
    for (int i = 0; i < 1000; i++)
        na_sha256_update(&c, a, i % 2 ? 999 : 1001); /* pieces across block edges */
    na_sha256_final_hex(&c, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_million_a_in_pieces),
    };

    return RUN(tests);
}
