/*
 * auth: the API key that guards writes.
 *
 * The key comes as `Authorization: Bearer <key>` or `X-API-Key: <key>`.
 * Comparison takes the same time whatever the first differing byte, so the
 * key cannot be guessed byte by byte from response times.
 */
#ifndef NA_AUTH_H
#define NA_AUTH_H

#include <stdbool.h>
#include <stddef.h>

enum na_auth {
    NA_AUTH_OK,
    NA_AUTH_DISABLED, /* no API_KEY configured: writes are off (403) */
    NA_AUTH_MISSING,  /* no credentials sent (401) */
    NA_AUTH_WRONG,    /* credentials sent, not the key (401) */
};

/* `configured` is the server's key ("" when none); the headers may be NULL. */
enum na_auth na_auth_check(const char *configured, const char *authorization,
                           const char *x_api_key);

/* Compares two byte strings in time that depends only on their lengths. */
bool na_auth_equal(const char *a, size_t alen, const char *b, size_t blen);

#endif
