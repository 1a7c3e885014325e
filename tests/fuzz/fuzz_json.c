/*
 * Fuzz target: the strict JSON reader (include/na/json.h). Whatever the
 * bytes, checking ends; what it accepts has no raw control character in a
 * string and nothing but JSON whitespace outside values (an oracle of its
 * own, independent of the reader); every object in it walks to its end and
 * every string decodes within its span.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "na/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Bytes below 0x20 appear only as whitespace between values. */
static void oracle(const uint8_t *s, size_t n)
{
    bool in_string = false;

    for (size_t i = 0; i < n; i++) {
        if (in_string) {
            if (s[i] < 0x20)
                abort();
            if (s[i] == '\\')
                i++;
            else if (s[i] == '"')
                in_string = false;
        } else if (s[i] == '"') {
            in_string = true;
        } else if (s[i] < 0x20 && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') {
            abort();
        }
    }
    if (in_string)
        abort();
}

static void decode(const struct na_json_span *str, const uint8_t *data, size_t size)
{
    char out[64];
    bool lone;
    size_t n;

    if ((const uint8_t *)str->text < data || (const uint8_t *)str->text + str->len > data + size ||
        str->len < 2 || str->text[0] != '"' || str->text[str->len - 1] != '"')
        abort();
    n = na_json_string(str, out, sizeof(out), &lone);
    /* Escapes only shrink: \uXXXX (6) is at most 3 bytes, a pair (12) is 4. */
    if (n > str->len - 2 || strlen(out) > n)
        abort();
}

static void walk(const struct na_json_span *obj, const uint8_t *data, size_t size, int depth)
{
    struct na_json_members it;
    struct na_json_span key, value;

    na_json_members_init(&it, obj);
    while (na_json_members_next(&it, &key, &value)) {
        if (depth > 40 || value.text + value.len > obj->text + obj->len)
            abort();
        decode(&key, data, size);
        if (value.kind == NA_JSON_STRING)
            decode(&value, data, size);
        else if (value.kind == NA_JSON_OBJECT)
            walk(&value, data, size, depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct na_json_span root;
    char err[160];

    if (na_json_parse((const char *)data, size, 32, &root, err, sizeof(err)) != NA_JSON_OK) {
        if (!err[0])
            abort(); /* a refusal always says why */
        return 0;
    }
    oracle(data, size);
    if (root.kind == NA_JSON_OBJECT)
        walk(&root, data, size, 0);
    else if (root.kind == NA_JSON_STRING)
        decode(&root, data, size);
    return 0;
}
