/*
 * etag: weak entity tags for GET and HEAD answers, and If-None-Match.
 *
 * As Express does by default: every 200 answer to GET or HEAD carries a
 * weak ETag derived from its body (so it changes whenever the bytes do:
 * an item updated, another representation such as BSON), and a request
 * whose If-None-Match matches it is answered 304 with no body. The tag is
 * W/"<length in hex>-<16 hex digits of a 64-bit hash of the body>": one
 * pass over bytes already encoded, never a second encode. The hash is not
 * cryptographic; a tag names a body, it does not authenticate it.
 *
 * If-None-Match (RFC 9110 13.1.2) is "*" or a comma-separated list of
 * entity tags, each `"opaque"` or `W/"opaque"`; the comparison is weak
 * (W/ ignored on both sides). A list that stops parsing part-way matches
 * only on the tags before the fault. As Express (the `fresh` package)
 * does, a request with Cache-Control: no-cache is never answered 304.
 *
 * Pure functions over borrowed strings; any thread.
 */
#ifndef NA_ETAG_H
#define NA_ETAG_H

#include <stdbool.h>
#include <stddef.h>

/* W/" + 16 length digits at most + - + 16 hash digits + " + NUL. */
#define NA_ETAG_MAX 40

/* Writes the body's weak tag, NUL-terminated, into `out`. */
void na_etag_of(const void *body, size_t len, char out[NA_ETAG_MAX]);

/*
 * Whether `if_none_match` (a header value, NULL when absent) matches
 * `etag` (one na_etag_of() wrote), so that the answer is 304.
 */
bool na_etag_matches(const char *if_none_match, const char *etag);

/* Whether a request's Cache-Control (NULL when absent) holds no-cache. */
bool na_etag_no_cache(const char *cache_control);

#endif
