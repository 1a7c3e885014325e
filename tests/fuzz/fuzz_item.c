/*
 * Fuzz target: item bodies and price text (include/na/item.h).
 * Whatever the bytes, parsing ends with an item that obeys the rules or a
 * message, and never reads or writes out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "na/buf.h"
#include "na/item.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct na_item item;
    char err[200], *text;
    int64_t cents, id;

    if (!na_item_parse((const char *)data, size, &item, err, sizeof(err))) {
        size_t n = strlen(item.name);

        if (!n || n > NA_ITEM_NAME_MAX || !na_utf8_valid(item.name, n) || item.price_cents < 0 ||
            item.price_cents > NA_PRICE_MAX_CENTS)
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
