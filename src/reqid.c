/*
 * reqid: request id validation and generation (see include/na/reqid.h).
 */
#include "na/reqid.h"

#include <bson/bson.h>
#include <string.h>

bool na_reqid_sane(const char *s, size_t n)
{
    if (!n || n > NA_REQID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("-_.:/+=@", c)) ||
            c == '\0')
            return false;
    }
    return true;
}

size_t na_reqid_assign(const char *client, char out[NA_REQID_MAX + 1])
{
    bson_oid_t oid;

    if (client) {
        size_t n = strnlen(client, NA_REQID_MAX + 1);

        if (na_reqid_sane(client, n)) {
            memcpy(out, client, n);
            out[n] = '\0';
            return n;
        }
    }
    /* libbson's default context is thread-safe: its counter is atomic. */
    bson_oid_init(&oid, NULL);
    bson_oid_to_string(&oid, out);
    return 24;
}
