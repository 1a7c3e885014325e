/*
 * idem: the Idempotency-Key request header on writes (IETF httpapi draft
 * "The Idempotency-Key HTTP Header Field"; Stripe's convention).
 *
 * A client that may retry a write (a timeout, a 504 whose outcome is
 * unknown, a dropped connection) sends a key of its choosing; the store
 * keeps the key with a fingerprint of the request and its outcome,
 * committed with the write, so a retry gets the first outcome instead of
 * a second write (see struct na_idem in store.h for the rules).
 *
 * Here: reading the header, and the two digests the store keys on. Pure
 * functions, any thread.
 */
#ifndef NA_IDEM_H
#define NA_IDEM_H

#include "na/store.h"

/*
 * Reads a header value: 1 to 255 printable ASCII characters (0x20 to
 * 0x7e), or the same as a structured-field string ("..." with \" and \\
 * escapes, RFC 8941), which the draft specifies. Returns 0 with the key in
 * `out`, or -1 when it is neither.
 */
int na_idem_key_parse(const char *value, char out[NA_IDEM_KEY_MAX + 1]);

/* The scope of a caller: the SHA-256 of the API key it presented, in hex. */
void na_idem_scope(const char *api_key, char out[NA_IDEM_HEX]);

/*
 * The fingerprint of a write: its method, its path (the route and the
 * id) and its item as parsed (so key order and whitespace do not count),
 * as a SHA-256 in hex. `item` is NULL for DELETE.
 */
void na_idem_fingerprint(enum na_store_op op, int64_t id, const struct na_item *item,
                         char out[NA_IDEM_HEX]);

#endif
