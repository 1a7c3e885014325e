/*
 * negotiate: which representation an Accept header asks for.
 *
 * The item routes speak JSON (the default) and BSON (application/bson,
 * encoded with libbson). The choice follows RFC 9110 12.5.1: the most
 * specific media range that matches each type gives its quality; the type
 * with the highest quality above zero wins, JSON on a tie. No Accept header,
 * or an empty one, means JSON; an Accept that excludes both means 406.
 */
#ifndef NA_NEGOTIATE_H
#define NA_NEGOTIATE_H

enum na_format { NA_FORMAT_NONE = 0, NA_FORMAT_JSON, NA_FORMAT_BSON };

/* `accept` may be NULL. */
enum na_format na_negotiate(const char *accept);

#endif
