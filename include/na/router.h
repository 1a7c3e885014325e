/*
 * router: maps a request's method and path to a route.
 *
 * Matching follows Express's defaults, so clients of the tutorial's app
 * see the same answers: literal segments compare case-insensitively and one
 * trailing slash is ignored ("/Health/" is "/health"). /metrics alone is
 * matched case-sensitively, as the load balancer rule that blocks it is. A `{param}` segment
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
    NA_ROUTE_ITEMS,   /* /api/items */
    NA_ROUTE_ITEM,    /* /api/items/{id} */
    NA_ROUTE_DELAY,   /* load-testing route: /api/delay/{ms} */
    NA_ROUTE_STATUS,  /* load-testing route: /api/status/{code} */
    NA_ROUTE_METRICS, /* /metrics, when served on the main port */
    NA_ROUTE_OPENAPI, /* /openapi.json */
    /* Load-testing routes (NA_ROUTER_LOADTEST), beside /api/delay and /api/status: */
    NA_ROUTE_CPU,            /* /api/cpu/{ms} */
    NA_ROUTE_PAYLOAD,        /* /api/payload/{bytes} */
    NA_ROUTE_ECHO,           /* POST /api/echo */
    NA_ROUTE_HEALTH_DISABLE, /* POST /health/disable */
    NA_ROUTE_HEALTH_ENABLE,  /* POST /health/enable */
    NA_ROUTE_LAST_ = NA_ROUTE_HEALTH_ENABLE,
};

/* What na_router_match() may match beyond the API: the routes switched on. */
enum na_router_flags {
    NA_ROUTER_LOADTEST = 1u << 0, /* the load-testing routes (README: load-testing controls) */
    NA_ROUTER_METRICS = 1u << 1,  /* /metrics */
};

struct na_match {
    enum na_route route;
    unsigned methods; /* methods the route serves; HEAD and OPTIONS included */
    /*
     * The {param} segment, percent-decoded as Express decodes req.params:
     * borrowed from the path, or from param_buf when it had escapes. NULL
     * if none.
     */
    const char *param;
    size_t param_len;
    char param_buf[64];
};

/* The method token's bit; NA_METHOD_OTHER for anything unknown. */
enum na_method na_method_parse(const char *method);

/* The bit's index, 0 to 7 (GET is 0, OTHER is 7). */
unsigned na_method_index(enum na_method m);

/* The method's name by index ("GET"; "OTHER" for 7). Static storage. */
const char *na_method_name(unsigned index);

/*
 * The route's template as the metrics and the OpenAPI document name it
 * ("/api/items/{id}"); "unmatched" for NA_ROUTE_NONE. Static storage.
 */
const char *na_router_template(enum na_route route);

/*
 * Matches `path` as it came on the request line (not percent-decoded,
 * without the query string), as Express matches: a literal segment never
 * decodes, so "/%61pi/items" is not /api/items and an escaped letter cannot
 * reach a route past path rules in front of the service (an ALB's, a
 * WAF's); "/api%2Fitems" is one segment. Only the parameter is decoded.
 * Load-testing routes and /metrics match only when `flags` (enum
 * na_router_flags) switch them on.
 */
void na_router_match(const char *path, unsigned flags, struct na_match *out);

/*
 * Percent-decodes a query argument or a route parameter in place ("%41"
 * -> "A") and returns its new length. "%00" stays as it is: a decoded NUL
 * would cut the string short. "%2F" stays too (in a parameter it would
 * make a separator that was not one).
 */
size_t na_router_unescape(char *s);

/* Writes the Allow header value for `methods` ("GET, HEAD, OPTIONS"). */
void na_router_allow(unsigned methods, char *out, size_t cap);

#endif
