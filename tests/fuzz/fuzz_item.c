/*
 * Fuzz target: item bodies and price text (include/na/item.h).
 * Whatever the bytes, parsing ends with an item that obeys the rules or a
 * message, and never reads or writes out of bounds. An accepted body holds
 * no raw control character inside a string (JSON.parse refuses those).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "na/buf.h"
#include "na/item.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* True when a raw byte below 0x20 sits inside a string of the text. */
static bool raw_control_in_string(const uint8_t *s, size_t n)
{
    bool in_string = false;

    for (size_t i = 0; i < n; i++) {
        if (!in_string) {
            in_string = s[i] == '"';
        } else if (s[i] < 0x20) {
            return true;
        } else if (s[i] == '\\') {
            i++;
        } else if (s[i] == '"') {
            in_string = false;
        }
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct na_item item;
    char err[200], *text;
    int64_t cents, id;

    if (!na_item_parse((const char *)data, size, &item, err, sizeof(err))) {
        size_t n = strlen(item.name);

        if (!n || n > NA_ITEM_NAME_MAX || !na_utf8_valid(item.name, n) || item.price_cents < 0 ||
            item.price_cents > NA_PRICE_MAX_CENTS || raw_control_in_string(data, size))
            abort();
    } else if (!err[0]) {
        abort(); /* a refusal always says why */
    }
    text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (!na_price_from_text(text, &cents) && (cents < 0 || cents > NA_PRICE_MAX_CENTS))
        abort();
    if (!na_item_id_parse(text, strlen(text), &id) && id <= 0)
        abort();
    free(text);
    return 0;
}
