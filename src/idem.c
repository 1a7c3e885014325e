/*
 * idem: Idempotency-Key parsing and digests (see include/na/idem.h).
 */
#include "na/idem.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "na/sha256.h"

int na_idem_key_parse(const char *value, char out[NA_IDEM_KEY_MAX + 1])
{
    char key[NA_IDEM_KEY_MAX + 1], trimmed[NA_IDEM_KEY_MAX + 3];
    size_t n = 0, len;

    if (!value)
        return -1;
    /* A field value has no whitespace around it (RFC 9110 5.5): a proxy may have trimmed it. */
    len = strlen(value);
    while (len && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    if (len >= sizeof(trimmed))
        return -1;
    memcpy(trimmed, value, len);
    trimmed[len] = '\0';
    value = trimmed;
    if (*value != '"') {
        for (; *value; value++) {
            if (*value < 0x20 || *value > 0x7e || n == NA_IDEM_KEY_MAX)
                return -1;
            key[n++] = *value;
        }
    } else {
        /* An sf-string: the quotes around it, \" and \\ inside, nothing after. */
        for (value++; *value != '"'; value++) {
            if (!*value || *value < 0x20 || *value > 0x7e || n == NA_IDEM_KEY_MAX)
                return -1;
            if (*value == '\\') {
                value++;
                if (*value != '"' && *value != '\\')
                    return -1;
            }
            key[n++] = *value;
        }
        if (value[1])
            return -1;
    }
    if (!n)
        return -1;
    memcpy(out, key, n);
    out[n] = '\0';
    return 0;
}

void na_idem_scope(const char *api_key, char out[NA_IDEM_HEX])
{
    na_sha256_hex(api_key, strlen(api_key), out);
}

void na_idem_fingerprint(enum na_store_op op, int64_t id, const struct na_item *item,
                         char out[NA_IDEM_HEX])
{
    struct na_sha256 c;
    char line[128];
    int n;

    switch (op) {
    case NA_STORE_CREATE:
        n = snprintf(line, sizeof(line), "POST /api/items\n");
        break;
    case NA_STORE_UPDATE:
        n = snprintf(line, sizeof(line), "PUT /api/items/%" PRId64 "\n", id);
        break;
    default:
        n = snprintf(line, sizeof(line), "DELETE /api/items/%" PRId64 "\n", id);
        break;
    }
    na_sha256_init(&c);
    na_sha256_update(&c, line, (size_t)n);
    if (item) {
        /* The name cannot hold a NUL: it ends the name unambiguously. */
        n = snprintf(line, sizeof(line), "%" PRId64, item->price_cents);
        na_sha256_update(&c, item->name, strlen(item->name) + 1);
        na_sha256_update(&c, line, (size_t)n);
    }
    na_sha256_final_hex(&c, out);
}
