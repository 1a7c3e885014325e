/*
 * item: item body validation and price parsing (see include/na/item.h).
 */
#include "na/item.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "na/buf.h"

/*
 * Deepest nesting of arrays and objects in JSON text, outside strings. The
 * text need not be valid JSON: this runs before the parser does.
 */
static size_t json_depth(const char *s, size_t n)
{
    size_t depth = 0, max = 0;
    bool in_string = false;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                max = depth;
        } else if ((c == ']' || c == '}') && depth) {
            depth--;
        }
    }
    return max;
}

/* True when the text escapes a NUL (\u0000), which cJSON would cut a string at. */
static bool escapes_nul(const char *s, size_t n)
{
    for (size_t i = 0; i + 6 <= n; i++) {
        if (s[i] == '\\' && s[i + 1] == 'u' && s[i + 2] == '0' && s[i + 3] == '0' &&
            s[i + 4] == '0' && s[i + 5] == '0')
            return true;
        if (s[i] == '\\')
            i++; /* skip the escaped character: "\\u0000" is text */
    }
    return false;
}

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
    snprintf(text, sizeof(text), "%.2f", v);
    if (strtod(text, NULL) != v)
        return -1;
    return na_price_from_text(text, cents);
}

/* "field \"name\" <what>": field names come from the client, so quoted escaped and short. */
static int fail_field(char *err, size_t errlen, const char *key, const char *what)
{
    char quoted[80];
    struct na_buf b;

    na_buf_init(&b, quoted, sizeof(quoted));
    na_buf_json_str(&b, key, strlen(key), 32);
    snprintf(err, errlen, "field %s %s", quoted, what);
    return -1;
}

static int fail(char *err, size_t errlen, const char *message)
{
    snprintf(err, errlen, "%s", message);
    return -1;
}

int na_item_parse(const char *body, size_t len, struct na_item *out, char *err, size_t errlen)
{
    const char *end = NULL;
    cJSON *root, *field;
    bool have_name = false, have_price = false;
    struct na_item item = {0};
    int rc = -1;

    if (!na_utf8_valid(body, len))
        return fail(err, errlen, "body is not valid UTF-8");
    if (json_depth(body, len) > NA_JSON_MAX_DEPTH) {
        snprintf(err, errlen, "body nests deeper than %d levels", NA_JSON_MAX_DEPTH);
        return -1;
    }
    if (escapes_nul(body, len))
        return fail(err, errlen, "body contains an escaped NUL character (\\u0000)");
    root = cJSON_ParseWithLengthOpts(body, len, &end, false);
    if (!root)
        return fail(err, errlen, "body is not valid JSON");
    while (end && end < body + len && strchr(" \t\r\n", *end))
        end++;
    if (end != body + len) {
        fail(err, errlen, "body has text after the JSON value");
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        fail(err, errlen, "body must be a JSON object with \"name\" and \"price\"");
        goto out;
    }
    cJSON_ArrayForEach(field, root)
    {
        const char *key = field->string;

        if (!strcmp(key, "name")) {
            size_t n;

            if (have_name) {
                fail_field(err, errlen, key, "appears twice");
                goto out;
            }
            have_name = true;
            if (!cJSON_IsString(field)) {
                fail_field(err, errlen, key, "must be a string");
                goto out;
            }
            n = strlen(field->valuestring);
            if (!n || n > NA_ITEM_NAME_MAX || !na_utf8_valid(field->valuestring, n)) {
                fail_field(err, errlen, key, "must be 1 to 200 bytes of UTF-8");
                goto out;
            }
            memcpy(item.name, field->valuestring, n + 1);
        } else if (!strcmp(key, "price")) {
            if (have_price) {
                fail_field(err, errlen, key, "appears twice");
                goto out;
            }
            have_price = true;
            if (!cJSON_IsNumber(field)) {
                fail_field(err, errlen, key, "must be a number");
                goto out;
            }
            if (price_from_number(field->valuedouble, &item.price_cents)) {
                fail_field(err, errlen, key,
                           "must be a number from 0 to 999999999999.99 with at most 2 decimals");
                goto out;
            }
        } else {
            fail_field(err, errlen, key, "is unknown: only \"name\" and \"price\" are accepted");
            goto out;
        }
    }
    if (!have_name || !have_price) {
        fail_field(err, errlen, have_name ? "price" : "name", "is required");
        goto out;
    }
    out->price_cents = item.price_cents;
    memcpy(out->name, item.name, sizeof(out->name));
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}
