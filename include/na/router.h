/*
 * router: maps a request's method and path to a route.
 *
 * Matching follows Express's defaults, so clients of the tutorial's app
 * see the same answers: literal segments compare case-insensitively and one
 * trailing slash is ignored ("/Health/" is "/health"). A `{param}` segment
 * matches one non-empty segment. The result says which methods the path
 * allows, so the caller can answer 404 (no route) apart from 405 (route,
 * wrong method).
 */
#ifndef NA_ROUTER_H
#define NA_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

enum na_method {
    NA_METHOD_GET = 1u << 0,
    NA_METHOD_HEAD = 1u << 1,
    NA_METHOD_POST = 1u << 2,
    NA_METHOD_PUT = 1u << 3,
    NA_METHOD_DELETE = 1u << 4,
    NA_METHOD_PATCH = 1u << 5,
    NA_METHOD_OPTIONS = 1u << 6,
    NA_METHOD_OTHER = 1u << 7,
};

enum na_route {
    NA_ROUTE_NONE = 0,
    NA_ROUTE_HEALTH,
    NA_ROUTE_HEALTH_DETAILED,
    NA_ROUTE_INFO,
    NA_ROUTE_ITEMS,  /* /api/items */
    NA_ROUTE_ITEM,   /* /api/items/{id} */
    NA_ROUTE_DELAY,  /* load-testing route: /api/delay/{ms} */
    NA_ROUTE_STATUS, /* load-testing route: /api/status/{code} */
};

struct na_match {
    enum na_route route;
    unsigned methods;  /* methods the route serves; HEAD and OPTIONS included */
    const char *param; /* the {param} segment, borrowed from the path; NULL if none */
    size_t param_len;
};

/* The method token's bit; NA_METHOD_OTHER for anything unknown. */
enum na_method na_method_parse(const char *method);

/*
 * Matches `path` (already percent-decoded, without the query string).
 * Load-testing routes match only when `loadtest` is set.
 */
void na_router_match(const char *path, bool loadtest, struct na_match *out);

/*
 * Percent-decodes a path or query argument in place ("%41" -> "A") and
 * returns its new length. "%00" and "%2F" stay as they are: a decoded NUL
 * would cut the string short ("/health%00.json" served as "/health"), and
 * routing is on the path's own separators, as in Express: "/api%2Fitems"
 * is one segment, not /api/items, so path rules in front of the service
 * (an ALB's, a WAF's) cannot be bypassed.
 */
size_t na_router_unescape(char *s);

/* Writes the Allow header value for `methods` ("GET, HEAD, OPTIONS"). */
void na_router_allow(unsigned methods, char *out, size_t cap);

#endif
