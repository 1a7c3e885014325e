/*
 * auth: API key checks (see include/na/auth.h).
 */
#include "na/auth.h"

#include <string.h>
#include <strings.h>

bool na_auth_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    /* Walk the longer of the two whole, so no early exit tells a prefix apart. */
    size_t n = alen > blen ? alen : blen;
    volatile unsigned char diff = (unsigned char)(alen != blen);

    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < alen ? (unsigned char)a[i] : 0;
        unsigned char y = i < blen ? (unsigned char)b[i] : 0;

        diff |= (unsigned char)(x ^ y);
    }
    return diff == 0;
}

enum na_auth na_auth_check(const char *configured, const char *authorization, const char *x_api_key)
{
    const char *key = NULL;
    size_t n;

    if (!configured[0])
        return NA_AUTH_DISABLED;
    if (authorization && !strncasecmp(authorization, "Bearer ", 7)) {
        key = authorization + 7;
        while (*key == ' ')
            key++;
    } else if (x_api_key) {
        key = x_api_key;
    }
    /* A field value has no whitespace after it (RFC 9110 5.5); libmicrohttpd keeps it. */
    n = key ? strlen(key) : 0;
    while (n && (key[n - 1] == ' ' || key[n - 1] == '\t'))
        n--;
    if (!n)
        return NA_AUTH_MISSING;
    return na_auth_equal(key, n, configured, strlen(configured)) ? NA_AUTH_OK : NA_AUTH_WRONG;
}
