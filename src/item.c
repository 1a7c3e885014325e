/*
 * item: item body validation and price parsing (see include/na/item.h).
 *
 * Bodies are read with the strict reader of json.c, so a body is refused
 * exactly when JSON.parse would refuse it or when it breaks an item rule.
 */
#include "na/item.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "na/buf.h"
#include "na/json.h"

int na_price_from_text(const char *text, int64_t *cents)
{
    int64_t whole = 0;
    int decimals = 0, frac = 0;
    const char *p = text;

    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (whole > NA_PRICE_MAX_CENTS / 100)
            return -1;
        whole = whole * 10 + (*p - '0');
    }
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++) {
            if (decimals == 2) {
                if (*p != '0') /* "29.990" is 29.99; "29.991" is not two decimals */
                    return -1;
                continue;
            }
            frac = frac * 10 + (*p - '0');
            decimals++;
        }
        if (!decimals && p[-1] == '.')
            return -1;
    }
    if (*p)
        return -1;
    if (decimals == 1)
        frac *= 10;
    if (whole > (NA_PRICE_MAX_CENTS - frac) / 100)
        return -1;
    *cents = whole * 100 + frac;
    return 0;
}

int na_item_id_parse(const char *s, size_t n, int64_t *id)
{
    int64_t v = 0;

    if (!n || n > 19)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (v > (INT64_MAX - (s[i] - '0')) / 10)
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (!v)
        return -1;
    *id = v;
    return 0;
}

/*
 * A JSON number as exact cents, when it has at most two decimals. The
 * double cJSON parsed is printed back with two decimals: the text it came
 * from had at most two exactly when reading that print gives the same
 * double (doubles below 2^46 keep two decimals apart).
 */
static int price_from_number(double v, int64_t *cents)
{
    char text[64];

    if (!isfinite(v) || v < 0 || v > (double)NA_PRICE_MAX_CENTS / 100)
        return -1;
    if (v == 0)
        v = 0; /* -0 is 0, as in JavaScript's arithmetic */
    snprintf(text, sizeof(text), "%.2f", v);
    if (strtod(text, NULL) != v)
        return -1;
    return na_price_from_text(text, cents);
}

/* "field \"name\" <what>": field names come from the client, so quoted escaped and short. */
static int fail_field(char *err, size_t errlen, const char *key, size_t keylen, const char *what)
{
    char quoted[80];
    struct na_buf b;

    na_buf_init(&b, quoted, sizeof(quoted));
    na_buf_json_str(&b, key, keylen, 32);
    snprintf(err, errlen, "field %s %s", quoted, what);
    return -1;
}

static int fail(char *err, size_t errlen, const char *message)
{
    snprintf(err, errlen, "%s", message);
    return -1;
}

/* A checked number's value, read as JSON.parse reads it: the nearest double. */
static int number_value(const struct na_json_span *num, double *out)
{
    char small[64], *text = num->len < sizeof(small) ? small : malloc(num->len + 1);

    if (!text)
        return -1;
    memcpy(text, num->text, num->len);
    text[num->len] = '\0';
    *out = strtod(text, NULL); /* correctly rounded; overflow is HUGE_VAL, refused as a price */
    if (text != small)
        free(text);
    return 0;
}

static int parse_name(const struct na_json_span *v, struct na_item *item, char *err, size_t errlen)
{
    bool lone;
    size_t n;

    if (v->kind != NA_JSON_STRING)
        return fail_field(err, errlen, "name", 4, "must be a string");
    n = na_json_string(v, item->name, sizeof(item->name), &lone);
    if (!n || n > NA_ITEM_NAME_MAX || lone)
        return fail_field(err, errlen, "name", 4, "must be 1 to 200 bytes of UTF-8");
    /* PostgreSQL text cannot hold NUL, and C strings end at one. */
    if (memchr(item->name, '\0', n))
        return fail_field(err, errlen, "name", 4, "must not contain NUL (\\u0000)");
    return 0;
}

static int parse_price(const struct na_json_span *v, struct na_item *item, char *err, size_t errlen)
{
    double d;

    if (v->kind != NA_JSON_NUMBER)
        return fail_field(err, errlen, "price", 5, "must be a number");
    if (number_value(v, &d))
        return fail(err, errlen, "out of memory");
    if (price_from_number(d, &item->price_cents))
        return fail_field(err, errlen, "price", 5,
                          "must be a number from 0 to 999999999999.99 with at most 2 decimals");
    return 0;
}

int na_item_parse(const char *body, size_t len, struct na_item *out, char *err, size_t errlen)
{
    struct na_json_span root, key, value;
    struct na_json_members it;
    bool have_name = false, have_price = false;
    struct na_item item = {0};
    char why[160];

    if (!na_utf8_valid(body, len))
        return fail(err, errlen, "body is not valid UTF-8");
    switch (na_json_parse(body, len, NA_JSON_MAX_DEPTH, &root, why, sizeof(why))) {
    case NA_JSON_OK:
        break;
    case NA_JSON_TOO_DEEP:
        snprintf(err, errlen, "body nests deeper than %d levels", NA_JSON_MAX_DEPTH);
        return -1;
    case NA_JSON_INVALID:
        snprintf(err, errlen, "body is not valid JSON: %s", why);
        return -1;
    }
    if (root.kind != NA_JSON_OBJECT)
        return fail(err, errlen, "body must be a JSON object with \"name\" and \"price\"");
    na_json_members_init(&it, &root);
    while (na_json_members_next(&it, &key, &value)) {
        char k[64];
        bool lone;
        size_t n = na_json_string(&key, k, sizeof(k), &lone);
        bool is_name = n == 4 && !memcmp(k, "name", 4);
        bool is_price = n == 5 && !memcmp(k, "price", 5);

        if (!is_name && !is_price)
            return fail_field(err, errlen, k, n < sizeof(k) ? n : sizeof(k) - 1,
                              "is unknown: only \"name\" and \"price\" are accepted");
        if (is_name ? have_name : have_price)
            return fail_field(err, errlen, k, n, "appears twice");
        if (is_name ? parse_name(&value, &item, err, errlen)
                    : parse_price(&value, &item, err, errlen))
            return -1;
        *(is_name ? &have_name : &have_price) = true;
    }
    if (!have_name || !have_price)
        return fail_field(err, errlen, have_name ? "price" : "name", have_name ? 5 : 4,
                          "is required");
    out->price_cents = item.price_cents;
    memcpy(out->name, item.name, sizeof(out->name));
    return 0;
}
