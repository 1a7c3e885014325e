/*
 * item: what a valid item is, and how prices read.
 *
 * A request body for POST and PUT is a JSON object with exactly two fields:
 * "name", a non-empty string of at most 200 bytes of valid UTF-8 with no
 * NUL, and "price", a number >= 0 with at most two decimals (at most
 * 999,999,999,999.99). Anything else is refused with a message that says
 * which field is wrong and why, fit for a 400 answer.
 *
 * The text must be strict JSON (RFC 8259, as JSON.parse takes it: no raw
 * control characters in strings, no leading zeros, no NaN), in UTF-8,
 * nesting at most NA_JSON_MAX_DEPTH deep; hostile bodies (invalid bytes,
 * 10,000-deep arrays) cost one linear scan. A price is the double the
 * number denotes, as in JavaScript: 29.990000000000001 is 29.99.
 */
#ifndef NA_ITEM_H
#define NA_ITEM_H

#include <stddef.h>
#include <stdint.h>

#include "na/store.h"

#define NA_JSON_MAX_DEPTH 32

/*
 * Parses a body into `out` (name and price; id untouched). Returns 0, or -1
 * with a message in `err`.
 */
int na_item_parse(const char *body, size_t len, struct na_item *out, char *err, size_t errlen);

/*
 * Reads a decimal price ("29.99", "30", "0.5") into cents. Returns 0, or -1
 * when it is not one with at most two decimals within NA_PRICE_MAX_CENTS.
 */
int na_price_from_text(const char *text, int64_t *cents);

/* Reads an item id: a whole number from 1 to 2^63 - 1, digits only. */
int na_item_id_parse(const char *s, size_t n, int64_t *id);

#endif
